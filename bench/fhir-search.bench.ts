/**
 * FHIR search under load: seeds BENCH_FHIR_RESOURCES resources (default 1 000 000: one Patient per nine
 * ServiceRequests) with the repository's bulk loader, then runs autocannon with 32 connections against
 * GET /fhir/ServiceRequest?identifier=<system|value> and GET /fhir/ServiceRequest?subject=Patient/<id> with random
 * existing values, and reports p50/p99 (target p99 ≤ 10 ms), then the same with a single client. Every request is a full API request: token check,
 * search, Bundle, and an AuditEvent (batched). Seeding goes through the bench process's repository (`engine.ctx`, which
 * serves no load); the searches go to the engine process, whose CPU milliseconds per request are reported.
 * It also reports the database's own floor: a bare findOne by _id with 32 concurrent callers (dbFindById*), the
 * cheapest command there is; an identifier search costs at least two such round trips.
 *
 * Seeding is bounded by BENCH_FHIR_SEED_SECONDS (default 1800): when the time is up the benchmark runs on what was
 * seeded and says so. Progress is printed every 50 000 resources.
 */
import type { Patient, ServiceRequest } from '@medplum/fhirtypes';
import type { Collection } from 'mongodb';
import { currentCollectionName } from '../src/fhir-store/resource-types.js';
import { durationSeconds, load, startBenchEngine, BENCH_TENANT } from './support.js';

export const title = 'FHIR search: by identifier and by subject over a bulk-seeded repository (32 clients)';

const SR_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.2.99999';
const NIN = 'urn:oid:2.16.578.1.12.4.1.4.1';
const FAMILIES = ['Hansen', 'Johansen', 'Olsen', 'Larsen', 'Andersen', 'Pedersen', 'Nilsen', 'Kristiansen', 'Jensen', 'Karlsen'];
const GIVEN = ['Kari', 'Ola', 'Ingrid', 'Per', 'Anne', 'Lars', 'Marit', 'Jon', 'Liv', 'Nils'];

function patient(i: number): Patient {
  return {
    resourceType: 'Patient',
    id: `bp-${i}`,
    identifier: [{ system: NIN, value: String(10_000_000_000 + i) }],
    name: [{ family: FAMILIES[i % 10], given: [GIVEN[(i * 7) % 10]] }],
    gender: i % 2 ? 'female' : 'male',
    birthDate: `19${String(40 + (i % 60)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
  };
}

function serviceRequest(i: number, patients: number): ServiceRequest {
  return {
    resourceType: 'ServiceRequest',
    id: `bsr-${i}`,
    identifier: [{ system: SR_SYSTEM, value: `ref-${i}` }],
    status: i % 5 === 0 ? 'completed' : 'active',
    intent: 'order',
    code: { coding: [{ system: 'urn:oid:2.16.578.1.12.4.1.1.7010', code: i % 3 ? 'R' : 'K' }] },
    subject: { reference: `Patient/bp-${i % patients}` },
    authoredOn: `2024-0${1 + (i % 9)}-1${i % 10}T10:00:00Z`,
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const total = Number(process.env.BENCH_FHIR_RESOURCES ?? 1_000_000);
  const seedBudgetMs = Number(process.env.BENCH_FHIR_SEED_SECONDS ?? 1800) * 1000;
  const engine = await startBenchEngine();
  try {
    const repo = engine.ctx.fhir.forTenant(BENCH_TENANT);
    const patients = Math.max(1, Math.floor(total / 10));
    const requests = total - patients;
    const batch = 2000;
    const started = Date.now();
    let seeded = 0;
    let seededPatients = 0;
    let seededRequests = 0;
    let lastReport = 0;
    // Patients first, then the referrals pointing at them.
    while (seededPatients < patients && Date.now() - started < seedBudgetMs) {
      const n = Math.min(batch, patients - seededPatients);
      await repo.bulkLoad(Array.from({ length: n }, (_, k) => patient(seededPatients + k)), { validate: false });
      seededPatients += n;
      seeded += n;
      if (seeded - lastReport >= 50_000) {
        lastReport = seeded;
        console.log(`  seeded ${seeded}/${total} (${Math.round(seeded / ((Date.now() - started) / 1000))}/s)`);
      }
    }
    while (seededRequests < requests && Date.now() - started < seedBudgetMs) {
      const n = Math.min(batch, requests - seededRequests);
      await repo.bulkLoad(Array.from({ length: n }, (_, k) => serviceRequest(seededRequests + k, seededPatients)), { validate: false });
      seededRequests += n;
      seeded += n;
      if (seeded - lastReport >= 50_000) {
        lastReport = seeded;
        console.log(`  seeded ${seeded}/${total} (${Math.round(seeded / ((Date.now() - started) / 1000))}/s)`);
      }
    }
    const seedSeconds = (Date.now() - started) / 1000;
    if (seededRequests === 0) throw new Error(`seeding budget exhausted before any ServiceRequest (${seeded} resources)`);

    const token = await engine.token('system/*.read');
    const headers = { authorization: `Bearer ${token}`, accept: 'application/fhir+json' };
    // sanity: both searches find what they should
    const probe = await fetch(`${engine.url}/fhir/ServiceRequest?identifier=${encodeURIComponent(`${SR_SYSTEM}|ref-1`)}`, { headers });
    const probeBody = (await probe.json()) as { entry?: unknown[] };
    if (probe.status !== 200 || probeBody.entry?.length !== 1) throw new Error(`identifier probe failed: ${probe.status}`);

    const rnd = (n: number) => Math.floor(Math.random() * n);
    const identifierRequest = [
      { method: 'GET' as const, setupRequest: (r: any) => ({ ...r, path: `/fhir/ServiceRequest?identifier=${encodeURIComponent(`${SR_SYSTEM}|ref-${rnd(seededRequests)}`)}` }) },
    ];
    const subjectRequest = [
      { method: 'GET' as const, setupRequest: (r: any) => ({ ...r, path: `/fhir/ServiceRequest?subject=Patient/bp-${rnd(Math.min(seededPatients, seededRequests))}` }) },
    ];
    const audits = engine.ctx.database.db.collection(currentCollectionName('AuditEvent'));
    const auditsBefore = await audits.countDocuments();
    const byIdentifier = await load({ url: engine.url, headers, requests: identifierRequest }, engine);
    const bySubject = await load({ url: engine.url, headers, requests: subjectRequest }, engine);
    // the same with one client: the latency of a request when the machine is not saturated by the load generator
    const byIdentifier1 = await load({ url: engine.url, headers, requests: identifierRequest, connections: 1 }, engine);
    const bySubject1 = await load({ url: engine.url, headers, requests: subjectRequest, connections: 1 }, engine);
    // AuditEvents are written in batches after the answers: wait until their number stops growing.
    let auditEventsWritten = -1;
    for (let i = 0; i < 40; i++) {
      const n = (await audits.countDocuments()) - auditsBefore;
      if (n === auditEventsWritten) break;
      auditEventsWritten = n;
      await new Promise((r) => setTimeout(r, 250));
    }
    const searchesAnswered = [byIdentifier, bySubject, byIdentifier1, bySubject1].reduce((n, r) => n + r.requests - r.non2xx, 0);
    // The database's own floor: one findOne by _id (the cheapest command there is) on the seeded ServiceRequests, 32
    // concurrent callers, no HTTP. An identifier search needs at least two such round trips (posting list, resource).
    const floor = await findByIdFloor(engine.ctx.database.db.collection(currentCollectionName('ServiceRequest')), seededRequests, `${BENCH_TENANT}|`);
    return {
      resourcesSeeded: seeded,
      resourcesRequested: total,
      seedSeconds: Math.round(seedSeconds),
      seedResourcesPerSecond: Math.round(seeded / seedSeconds),
      durationSecondsPerRun: durationSeconds,
      identifierP50Ms: byIdentifier.p50Ms,
      identifierP99Ms: byIdentifier.p99Ms,
      identifierRequestsPerSecond: byIdentifier.requestsPerSecond,
      identifierErrors: byIdentifier.errors + byIdentifier.non2xx,
      identifierLittlesLaw: byIdentifier.littlesLaw,
      identifierEngineCpuMsPerRequest: byIdentifier.serverCpuMsPerRequest,
      subjectP50Ms: bySubject.p50Ms,
      subjectP99Ms: bySubject.p99Ms,
      subjectRequestsPerSecond: bySubject.requestsPerSecond,
      subjectErrors: bySubject.errors + bySubject.non2xx,
      subjectLittlesLaw: bySubject.littlesLaw,
      subjectEngineCpuMsPerRequest: bySubject.serverCpuMsPerRequest,
      oneClientIdentifierP50Ms: byIdentifier1.p50Ms,
      oneClientIdentifierP99Ms: byIdentifier1.p99Ms,
      oneClientSubjectP50Ms: bySubject1.p50Ms,
      oneClientSubjectP99Ms: bySubject1.p99Ms,
      oneClientLittlesLaw: [byIdentifier1.littlesLaw, bySubject1.littlesLaw],
      oneClientEngineCpuMsPerRequest: [byIdentifier1.serverCpuMsPerRequest, bySubject1.serverCpuMsPerRequest],
      requestsPerSecond: byIdentifier.requestsPerSecond,
      engineCpuMsPerRequest: byIdentifier.serverCpuMsPerRequest,
      targetP99Ms: 10,
      dbFindByIdPerSecond: floor.perSecond,
      dbFindByIdP50Ms: floor.p50Ms,
      dbFindByIdP99Ms: floor.p99Ms,
      searchesAnswered,
      auditEventsWritten,
    };
  } finally {
    await engine.stop();
  }
}

/** Bare `findOne({_id})` with 32 concurrent callers for the benchmark duration: the database's latency floor. */
async function findByIdFloor(col: Collection<{ _id: string }>, n: number, keyPrefix: string): Promise<{ perSecond: number; p50Ms: number; p99Ms: number }> {
  const latencies: number[] = [];
  const started = Date.now();
  const until = started + durationSeconds * 1000;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (Date.now() < until) {
        const t = performance.now();
        const doc = await col.findOne({ _id: `${keyPrefix}bsr-${Math.floor(Math.random() * n)}` });
        if (!doc) throw new Error('findOne floor: seeded document missing');
        latencies.push(performance.now() - t);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))].toFixed(1));
  return { perSecond: Math.round(latencies.length / ((Date.now() - started) / 1000)), p50Ms: at(0.5), p99Ms: at(0.99) };
}
