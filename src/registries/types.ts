/** Registry records as stored (the `id` is the document `_id`; audit fields are set by the store). */

export interface AuditFields {
  inserted_at: Date;
  inserted_by: string;
  updated_at: Date;
  updated_by: string;
}

export interface Coding {
  system: string;
  code: string;
  display?: string;
}

export interface CodeableConcept {
  coding: Coding[];
  text?: string;
}

export interface LegalEntity {
  id: string;
  name?: string;
  edrpou?: string;
  type: string;
  status: 'ACTIVE' | 'SUSPENDED' | 'CLOSED' | 'REORGANIZED';
}

export interface Party {
  id: string;
  tax_id: string;
  no_tax_id?: boolean;
  verification_status?: 'VERIFIED' | 'NOT_VERIFIED' | 'VERIFICATION_NEEDED';
  verification_updated_at?: string;
  /** User ids (token `sub`) acting as this party. */
  users: string[];
}

export interface Employee {
  id: string;
  party_id: string;
  legal_entity_id: string;
  employee_type: string;
  status: 'NEW' | 'APPROVED' | 'DISMISSED';
  is_active: boolean;
  speciality?: { speciality: string; speciality_officio?: boolean; level?: string; qualification_type?: string };
}

export interface Patient {
  id: string;
  status: 'active' | 'inactive';
}

interface MedicalProgramSettings {
  speciality_types_allowed?: string[];
  conditions_icd10_am_allowed?: string[];
  conditions_icpc2_allowed?: string[];
  providing_conditions_allowed?: string[];
  patient_categories_allowed?: string[];
  [key: string]: unknown;
}

export interface MedicalProgram {
  id: string;
  name: string;
  is_active: boolean;
  type?: string;
  medical_program_settings?: MedicalProgramSettings;
}

interface Dosage {
  numerator_unit: string;
  numerator_value: number;
  denumerator_unit: string;
  denumerator_value: number;
}

export interface Medication {
  id: string;
  name: string;
  type: 'BRAND' | 'INNM_DOSAGE';
  is_active: boolean;
  form?: string;
  /** INNM_DOSAGE: the INNMs; BRAND: the INNM_DOSAGE it is a brand of. */
  ingredients: { id: string; is_primary: boolean; dosage: Dosage; name?: string }[];
}

export interface ProgramMedication {
  id: string;
  medical_program_id: string;
  /** A BRAND medication. */
  medication_id: string;
  is_active: boolean;
  medication_request_allowed?: boolean;
  care_plan_activity_allowed: boolean;
}

export interface Service {
  id: string;
  name: string;
  code: string;
  is_active: boolean;
  category?: string;
}

interface ServiceGroup {
  id: string;
  name: string;
  code: string;
  is_active: boolean;
  service_ids?: string[];
}

interface ProgramService {
  id: string;
  medical_program_id: string;
  service_id?: string;
  service_group_id?: string;
  is_active: boolean;
  request_allowed?: boolean;
}

export interface PatientEvent {
  id: string;
  patient_id: string;
  code?: CodeableConcept;
  status?: string;
  effective_at?: string;
}

export interface Approval {
  id: string;
  patient_id: string;
  /** Employee id the patient granted access to. */
  granted_to: string;
  granted_resources: { resource_type: 'care_plan' | 'episode_of_care' | 'diagnostic_report'; id: string }[];
  access_level: 'read' | 'write';
  status: 'new' | 'active' | 'expired' | 'rejected' | 'cancelled';
  expires_at?: string;
}

export interface DiscountRule {
  applies_to: 'consultation' | 'follow_up' | 'any';
  percent?: string;
  amount?: string;
}

export interface Deal {
  id: string;
  /** The legal entity (token client_id) the deal belongs to. */
  tenant: string;
  insurer_organization_id: string;
  insurer_name?: string;
  name?: string;
  service: { code: string; display?: string };
  unit_price: string;
  currency: 'NOK' | 'SEK' | 'DKK' | 'EUR' | 'USD' | 'GBP';
  discount_rules?: DiscountRule[];
  follow_up_covered?: boolean;
  policy_number?: string;
  valid_from: string;
  /** Last day the deal applies (inclusive); none: open-ended. */
  valid_to?: string;
}

export interface RegistryRecordMap {
  legal_entities: LegalEntity;
  parties: Party;
  employees: Employee;
  patients: Patient;
  medical_programs: MedicalProgram;
  medications: Medication;
  program_medications: ProgramMedication;
  services: Service;
  service_groups: ServiceGroup;
  program_services: ProgramService;
  conditions: PatientEvent;
  clinical_impressions: PatientEvent;
  observations: PatientEvent;
  diagnostic_reports: PatientEvent;
  approvals: Approval;
  deals: Deal;
}

export type RegistryName = keyof RegistryRecordMap;
