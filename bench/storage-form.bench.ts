/**
 * What storing a FHIR resource as a BSON sub-document (`resource`, today's form) costs against the earlier form, JSON
 * text (`j`), on the bench's database: a Patient of about 1.7 KB written in batches of 32 (as the repository's group
 * commit writes) and read back by `_id` with 16 concurrent readers, alternately in both forms, three rounds each. Per
 * document: wall time, this process's CPU (serialising, parsing) and the database server's CPU (from /proc, for the
 * embedded server). Both collections carry the `_id` index the engine adds on FerretDB/SQLite. Also the time of a query into the sub-document (`resource.identifier.value`), which only the
 * BSON form allows: FerretDB pushes down no filter but `_id`, so it scans the collection.
 */
import { randomUUID } from 'node:crypto';
import { MongoClient, type Collection } from 'mongodb';
import type { Patient } from '@medplum/fhirtypes';
import { ensureFerretDbIdIndexes } from '../src/platform/db/ferretdb-sqlite.js';
import { benchDatabase, databaseCpuSeconds } from './support.js';

export const title = 'FHIR storage form: resource as BSON sub-document vs JSON text (write batches of 32, reads by _id)';

const N = Number(process.env.BENCH_STORAGE_DOCS ?? 500);
const ROUNDS = 3;

function patient(i: number): Patient {
  const id = randomUUID();
  return {
    resourceType: 'Patient',
    id,
    meta: { versionId: '1', lastUpdated: new Date().toISOString(), tag: [{ system: 'urn:hl7-engine:tenant', code: 'bench-le' }] },
    extension: [
      {
        url: 'urn:hl7-engine:source-message',
        extension: [
          { url: 'messageId', valueString: randomUUID() },
          { url: 'sent', valueDateTime: '2024-05-17T10:00:00+02:00' },
          { url: 'received', valueInstant: new Date().toISOString() },
          { url: 'storeId', valueString: randomUUID() },
        ],
      },
    ],
    identifier: [
      { system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: String(10_000_000_000 + i) },
      { system: 'urn:oid:2.16.578.1.12.4.1.4.2', value: String(40_000_000_000 + i) },
    ],
    name: [{ use: 'official', family: `Etternavn${i}`, given: ['Fornavn', 'Mellomnavn'] }],
    telecom: [
      { system: 'phone', value: `+47 9${String(i).padStart(7, '0')}`, use: 'mobile' },
      { system: 'email', value: `pasient${i}@example.org` },
    ],
    gender: i % 2 ? 'female' : 'male',
    birthDate: '1970-01-01',
    address: [{ use: 'home', line: [`Gate ${i}`, 'Oppgang B'], postalCode: '0150', city: 'Oslo', country: 'NO' }],
    contact: [{ relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] }], name: { family: 'Pårørende', given: ['Kari'] } }],
    generalPractitioner: [{ reference: `Practitioner/${randomUUID()}`, display: 'Fastlege' }],
    managingOrganization: { reference: `Organization/${randomUUID()}`, display: 'Sykehuset' },
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'nb' }] }, preferred: true }],
  };
}

interface Doc {
  _id: string;
  v: number;
  lu: number;
  resource?: Patient;
  j?: string;
}

type Form = 'bson' | 'json';

function stored(form: Form, p: Patient): Doc {
  const d: Doc = { _id: `bench-le|${p.id}`, v: 1, lu: Date.now() };
  if (form === 'bson') d.resource = p;
  else d.j = JSON.stringify(p);
  return d;
}

function decode(d: Doc | null): Patient | undefined {
  if (!d) return undefined;
  return d.resource ?? (d.j !== undefined ? (JSON.parse(d.j) as Patient) : undefined);
}

interface Cost {
  wallUs: number;
  cpuUs: number;
  dbCpuUs?: number;
}

async function measure(n: number, fn: () => Promise<void>): Promise<Cost> {
  const db0 = databaseCpuSeconds();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const db1 = databaseCpuSeconds();
  const out: Cost = { wallUs: (wall * 1000) / n, cpuUs: (cpu.user + cpu.system) / n };
  if (db0 !== undefined && db1 !== undefined) out.dbCpuUs = ((db1 - db0) * 1e6) / n;
  return out;
}

function mean(costs: Cost[]): Cost {
  const avg = (f: (c: Cost) => number | undefined) => Math.round(costs.reduce((a, c) => a + (f(c) ?? 0), 0) / costs.length);
  const out: Cost = { wallUs: avg((c) => c.wallUs), cpuUs: avg((c) => c.cpuUs) };
  if (costs.every((c) => c.dbCpuUs !== undefined)) out.dbCpuUs = avg((c) => c.dbCpuUs);
  return out;
}

async function round(col: Collection<Doc>, form: Form): Promise<{ write: Cost; read: Cost; ids: string[]; values: string[] }> {
  await col.deleteMany({});
  const resources = Array.from({ length: N }, (_, i) => patient(i));
  const write = await measure(N, async () => {
    for (let i = 0; i < N; i += 32) await col.insertMany(resources.slice(i, i + 32).map((p) => stored(form, p)), { ordered: false });
  });
  const ids = resources.map((p) => `bench-le|${p.id}`);
  let next = 0;
  const read = await measure(N, async () => {
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < ids.length) {
          const id = ids[next++];
          if (!decode(await col.findOne({ _id: id }))) throw new Error(`${form}: ${id} not read back`);
        }
      }),
    );
  });
  return { write, read, ids, values: resources.map((p) => p.identifier![0].value!) };
}

export async function run(): Promise<Record<string, unknown>> {
  const uri = (await benchDatabase()).uri;
  const client = await MongoClient.connect(uri);
  try {
    const db = client.db('bench_storage_form');
    const cols: Record<Form, Collection<Doc>> = {
      bson: db.collection<Doc>('form_bson', { ignoreUndefined: true }),
      json: db.collection<Doc>('form_json'),
    };
    // The engine's `_id` lookups use the index it adds to FerretDB/SQLite tables: the same here.
    for (const col of Object.values(cols)) await col.insertOne({ _id: 'create', v: 0, lu: 0 });
    await ensureFerretDbIdIndexes(db, uri, 'bench_storage_form');
    const costs: Record<Form, { write: Cost[]; read: Cost[] }> = { bson: { write: [], read: [] }, json: { write: [], read: [] } };
    let lastBson: { values: string[] } | undefined;
    for (let r = 0; r < ROUNDS; r++) {
      for (const form of (r % 2 ? ['json', 'bson'] : ['bson', 'json']) as Form[]) {
        const out = await round(cols[form], form);
        costs[form].write.push(out.write);
        costs[form].read.push(out.read);
        if (form === 'bson') lastBson = out;
      }
    }
    const wanted = lastBson!.values[Math.floor(N / 2)];
    const q = await measure(1, async () => {
      const found = await cols.bson.find({ 'resource.identifier.value': wanted }).toArray();
      if (found.length !== 1) throw new Error(`query into the sub-document found ${found.length}`);
    });
    await db.dropDatabase();
    return {
      documents: N,
      resourceJsonBytes: Buffer.byteLength(JSON.stringify(patient(0))),
      writePerDocument: { bson: mean(costs.bson.write), json: mean(costs.json.write) },
      readPerDocument: { bson: mean(costs.bson.read), json: mean(costs.json.read) },
      queryIntoResourceMs: Math.round(q.wallUs / 1000),
    };
  } finally {
    await client.close();
  }
}
