/**
 * Worker-thread entry of the HL7 v2 analysis pool (pool.ts): one Hl7Analyser per thread, built when the thread starts
 * (mappings, FHIR definitions and the validators of the resource types the mappings write are made before the first
 * task: compiling a type's JSON-schema validator takes seconds, which must not count against a message's budget). Each task says when it starts on its port, so the pool
 * measures the time budget from there, not from the time the task waited in the queue.
 */
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'piscina';
import type { Resource } from '@medplum/fhirtypes';
import { schemaIssues } from '../../fhir-store/json-schema.js';
import { loadDefinitions, validationIssues } from '../../fhir-store/validation.js';
import { Hl7Analyser, type Hl7Analysis, type Hl7AnalyseSettings, type Hl7TenantScope } from './analyse.js';
import type { MappingSelection } from '../../mapping/registry.js';

const analyser = new Hl7Analyser(workerData as Hl7AnalyseSettings);
loadDefinitions();
for (const resourceType of ['Patient', 'Encounter', 'Organization', 'Practitioner', 'PractitionerRole', 'ServiceRequest']) {
  validationIssues({ resourceType } as Resource);
  schemaIssues({ resourceType });
}

export default async function analyse(task: { bytes: Uint8Array; scope: Hl7TenantScope; selection: MappingSelection; port: MessagePort }): Promise<Hl7Analysis> {
  task.port.postMessage('start');
  task.port.close();
  return analyser.analyse(task.bytes, task.scope, task.selection);
}
