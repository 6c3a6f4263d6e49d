/**
 * Writes what the HL7 reference validator is given besides the resources the tests dump:
 *   --definitions DIR   the engine's extension StructureDefinitions (as /fhir/StructureDefinition serves them), and
 *                       those of the HL7 Extensions Pack extensions the engine writes (HL7_EXTENSIONS_USED)
 *   --samples DIR       every mapping example (mappings/<name>/examples) mapped as ingestion stores it: the
 *                       mapping's resources, each DomainResource with its source-message extension (GenDate or
 *                       MessageTimestamp of the example as `sent`)
 * Usage: npx tsx tools/fhir-validator/export.ts [--definitions DIR] [--samples DIR]
 */
import fs from 'node:fs';
import path from 'node:path';
import { HL7_EXTENSIONS_USED, structureDefinition } from '../../src/lib/fhir-extensions.js';
import { engineStructureDefinitions } from '../../src/fhir-api/structure-definitions.js';
import { envelopeFromText } from '../../src/ingest/henvisning/envelope.js';
import { readHeader } from '../../src/lib/er7.js';
import { hl7DateTime } from '../../src/mapping/functions.js';
import { listExamples, mapFile } from '../../src/mapping/examples.js';
import { DEFAULT_MAPPINGS_DIR, MappingRegistry } from '../../src/mapping/registry.js';
import { withSource } from '../../src/ingest/apply.js';
import { ResourceIds } from '../../src/mapping/resource-ids.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const definitions = arg('--definitions');
const samples = arg('--samples');
if (!definitions && !samples) {
  process.stderr.write('usage: export.ts [--definitions DIR] [--samples DIR]\n');
  process.exit(2);
}

if (definitions) {
  fs.mkdirSync(definitions, { recursive: true });
  const sds = [...engineStructureDefinitions(), ...HL7_EXTENSIONS_USED.map((d) => structureDefinition(d, '4.0.1'))];
  for (const sd of sds) fs.writeFileSync(path.join(definitions, `StructureDefinition-${sd.id}.json`), JSON.stringify(sd, null, 2));
  process.stdout.write(`${sds.length} StructureDefinitions → ${definitions}\n`);
}

if (samples) {
  fs.mkdirSync(samples, { recursive: true });
  const registry = new MappingRegistry(DEFAULT_MAPPINGS_DIR, new ResourceIds(Buffer.from('fhir-validator-sample-key-0123456789')));
  let n = 0;
  for (const ref of registry.list()) {
    const mapping = registry.byMappingName(ref.name)!;
    for (const ex of listExamples(path.join(DEFAULT_MAPPINGS_DIR, ref.name))) {
      const bytes = fs.readFileSync(ex.input);
      const sent = ex.input.endsWith('.json')
        ? (JSON.parse(bytes.toString('utf8')) as { MessageTimestamp?: string }).MessageTimestamp
        : ex.input.endsWith('.hl7')
          ? hl7DateTime(readHeader(bytes)?.time)
          : envelopeFromText(bytes.toString('utf8')).genDate;
      const src = { messageId: ex.name, sent, received: new Date('2024-01-01T00:00:00Z'), storeId: `sample-${n}` };
      const { resources } = await mapFile(mapping, ex.input);
      resources.forEach((r, i) => {
        fs.writeFileSync(path.join(samples, `${ref.name}--${ex.name}--${i}-${r.resourceType}.json`), JSON.stringify(withSource(r, src)));
        n++;
      });
    }
  }
  process.stdout.write(`${n} mapped sample resources → ${samples}\n`);
}
