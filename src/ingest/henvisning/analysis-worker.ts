/**
 * Worker-thread entry of the henvisning analysis pool (pool.ts): one HenvisningAnalyser per thread, built when the
 * thread starts (schemas, mappings and FHIR definitions load before the first task, so they do not count against a
 * message's time budget). Each task says when it starts on its port, so the pool measures the budget from there,
 * not from the time the task waited in the queue.
 */
import { createHash } from 'node:crypto';
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'piscina';
import { loadDefinitions } from '../../fhir-store/validation.js';
import { HenvisningAnalyser, type Analysis, type AnalyseSettings, type TenantScope } from './analyse.js';
import type { MappingSelection } from '../../mapping/registry.js';

const analyser = new HenvisningAnalyser(workerData as AnalyseSettings);
loadDefinitions();

export default async function analyse(task: { bytes: Uint8Array; tenant: TenantScope; selection: MappingSelection; port: MessagePort }): Promise<Analysis> {
  task.port.postMessage('start');
  task.port.close();
  const sha256 = createHash('sha256').update(task.bytes).digest('hex');
  return { ...(await analyser.analyse(task.bytes, task.tenant, task.selection)), sha256 };
}
