/**
 * The registries: URL/CLI name, collection, record schema, indexes and the query filters the list endpoint accepts.
 */
import type { IndexDescription } from 'mongodb';
import type { CollectionSpec } from '../platform/db/mongo.js';
import { registryStampCollection } from './cache.js';
import * as s from './schemas.js';
import type { RegistryName } from './types.js';

export interface RegistryDefinition {
  name: RegistryName;
  collection: string;
  description: string;
  schema: object;
  indexes: IndexDescription[];
  /** Query parameters of GET /api/registries/<name> → record field (exact match). */
  filters: Record<string, string>;
}

const def = (
  name: RegistryName,
  description: string,
  schema: object,
  indexes: IndexDescription[] = [],
  filters: Record<string, string> = {},
): RegistryDefinition => ({ name, collection: `registry_${name}`, description, schema, indexes, filters });

const patientEvents = (name: RegistryName, what: string, schema: object) =>
  def(name, `${what} of patients (reason references of care plan activities)`, schema, [{ key: { patient_id: 1 }, name: 'patient' }], {
    patient_id: 'patient_id',
  });

export const registryDefinitions: RegistryDefinition[] = [
  def('legal_entities', 'Legal entities (client_id of tokens): status and type', s.legalEntitySchema, [], { status: 'status', type: 'type' }),
  def('parties', 'Parties (persons behind users): tax id, verification, user ids', s.partySchema, [{ key: { users: 1 }, name: 'users' }], {
    user_id: 'users',
  }),
  def(
    'employees',
    'Employees: party, legal entity, speciality, status',
    s.employeeSchema,
    [{ key: { party_id: 1, legal_entity_id: 1 }, name: 'party_legal_entity' }],
    { party_id: 'party_id', legal_entity_id: 'legal_entity_id', status: 'status' },
  ),
  def('patients', 'Patients (MPI persons): status', s.patientSchema, [], { status: 'status' }),
  def('medical_programs', 'Medical programs: is_active and settings (lowercase keys)', s.medicalProgramSchema, [], {}),
  def(
    'medications',
    'Medications: BRAND and INNM_DOSAGE with ingredients (is_primary, dosage)',
    s.medicationSchema,
    [{ key: { type: 1, 'ingredients.id': 1 }, name: 'type_ingredient' }],
    { type: 'type' },
  ),
  def(
    'program_medications',
    'Program medications: BRAND in a medical program, is_active, care_plan_activity_allowed',
    s.programMedicationSchema,
    [{ key: { medical_program_id: 1, medication_id: 1 }, name: 'program_medication' }],
    { medical_program_id: 'medical_program_id', medication_id: 'medication_id' },
  ),
  def('services', 'Services', s.serviceSchema, [], {}),
  def('service_groups', 'Service groups', s.serviceGroupSchema, [], {}),
  def(
    'program_services',
    'Program services: service or service group in a medical program',
    s.programServiceSchema,
    [
      { key: { medical_program_id: 1, service_id: 1 }, name: 'program_service' },
      { key: { medical_program_id: 1, service_group_id: 1 }, name: 'program_service_group' },
    ],
    { medical_program_id: 'medical_program_id' },
  ),
  patientEvents('conditions', 'Conditions', s.conditionSchema),
  patientEvents('clinical_impressions', 'Clinical impressions (patient categories)', s.clinicalImpressionSchema),
  patientEvents('observations', 'Observations', s.observationSchema),
  patientEvents('diagnostic_reports', 'Diagnostic reports', s.diagnosticReportSchema),
  def(
    'approvals',
    "Approvals: a patient's grant of read/write access to resources (care plans) to an employee",
    s.approvalSchema,
    [{ key: { patient_id: 1, granted_to: 1 }, name: 'patient_granted_to' }],
    { patient_id: 'patient_id', granted_to: 'granted_to' },
  ),
  def(
    'deals',
    'Insurer deals of a legal entity (tenant): service, unit price, currency, discount rules, validity',
    s.dealSchema,
    [{ key: { tenant: 1, insurer_organization_id: 1 }, name: 'tenant_insurer' }],
    { tenant: 'tenant', insurer_organization_id: 'insurer_organization_id' },
  ),
];

export const registryByName = new Map(registryDefinitions.map((d) => [d.name, d]));

export const registryCollections: CollectionSpec[] = [...registryDefinitions.map((d) => ({ name: d.collection, indexes: d.indexes })), registryStampCollection];
