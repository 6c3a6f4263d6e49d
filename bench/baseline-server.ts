/**
 * The baseline's server, run as its own process (`node --import tsx bench/baseline-server.ts`) like the engine: a bare
 * Express handler inserting the posted JSON into the database (same connection settings as the engine), and
 * GET /cpu with this process's CPU seconds (user + system, as prom-client's process_cpu_seconds_total).
 * Environment: MONGODB_URI, MONGODB_DATABASE, PORT. Prints `listening <port>` when ready; stops on SIGTERM.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { connectDatabase } from '../src/platform/db/mongo.js';

const database = await connectDatabase(process.env.MONGODB_URI!, process.env.MONGODB_DATABASE ?? 'bench_baseline');
const coll = database.db.collection('baseline_docs');
const app = express();
app.use(express.json({ limit: '1mb' }));
app.post('/insert', async (req, res) => {
  const r = await coll.insertOne({ ...req.body, receivedAt: new Date() });
  res.status(201).json({ id: r.insertedId });
});
app.get('/cpu', (_req, res) => {
  const u = process.cpuUsage();
  res.json({ seconds: (u.user + u.system) / 1e6 });
});
const server = http.createServer(app);
server.keepAliveTimeout = 65_000;
await new Promise<void>((r) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => r()));
process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
process.on('SIGTERM', () => {
  server.closeIdleConnections();
  server.close(() => void database.close().then(() => process.exit(0)));
});
