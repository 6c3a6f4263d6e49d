/**
 * The reference every ingest benchmark is divided by: a bare Express handler inserting a 5 KB document into the
 * database over HTTP, 32 concurrent clients (autocannon). Same database, same driver settings as the engine.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { connectDatabase } from '../src/db/mongo.js';
import { benchDatabase, load, setBaseline } from './support.js';

export const title = 'Baseline: bare Express handler inserting a 5 KB document (32 clients)';

export async function run(): Promise<Record<string, unknown>> {
  const database = await connectDatabase((await benchDatabase()).uri, 'bench_baseline');
  const coll = database.db.collection('baseline_docs');
  const app = express();
  app.use(express.json({ limit: '1mb' }));
  let inFlight = 0;
  app.post('/insert', async (req, res) => {
    inFlight++;
    try {
      const r = await coll.insertOne({ ...req.body, receivedAt: new Date() });
      res.status(201).json({ id: r.insertedId });
    } finally {
      inFlight--;
    }
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const body = JSON.stringify({ kind: 'baseline', payload: 'x'.repeat(5 * 1024 - 40) });
  try {
    const result = await load({ url: `http://127.0.0.1:${port}/insert`, method: 'POST', headers: { 'content-type': 'application/json' }, body });
    setBaseline(result.requestsPerSecond);
    return { ...result, documentBytes: Buffer.byteLength(body) };
  } finally {
    server.closeIdleConnections();
    await new Promise<void>((r) => server.close(() => r()));
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 10)); // autocannon abandons its last requests
    await database.close();
  }
}
