/**
 * Every message the create-activity flow answers with, verbatim from eHealth's "Create Care Plan Activity" spec and the
 * eHealth services; "ours" marks texts we had to choose because no source gives one (docs/care-plans.md).
 */
export const MSG = {
  // synchronous checks (the eHealth gateway and the spec's synchronous validation)
  invalidToken: 'Invalid access token',
  partyNotVerified: 'Access denied. Party is not verified',
  legalEntityNotActive: 'client_id refers to legal entity that is not active',
  legalEntityTypeNotAllowed: 'client_id refers to legal entity with type that is not allowed to create medical events transactions',
  patientNotFound: 'Patient not found', // text ours; status 404 as in the Medical Events service (PatientExists plug)
  carePlanNotFound: 'Care plan with such id is not found',
  invalidCarePlanStatus: 'Invalid care plan status',
  carePlanExpired: 'Care Plan end date is expired',
  personNotActive: 'Person is not active',
  accessDenied: 'Access denied',
  otherLegalEntity: 'User is not allowed to write care plan from another legal_entity',

  // signature (wording of the eHealth Medical Events and Digital Signature services)
  invalidSignedContent: 'Invalid signed content',
  signerCount: (n: number) => `document must be signed by 1 signer but contains ${n} signatures`,
  malformedContent: 'Malformed encoded content. Probably, you have encoded corrupted JSON.',
  invalidDrfo: 'Invalid drfo',
  drfoMismatch: 'Does not match the signer drfo',
  employeeNotInMsp: 'Employees related to this party_id not in current MSP',
  failedToSaveSignedContent: 'Failed to save signed content',

  // consistency (ours)
  carePlanMismatch: 'Care plan in signed content does not match care_plan_id in the URL',
  activityExists: 'Care plan activity with such id already exists',
  notInEnum: 'value is not allowed in enum',
  productNotFound: (what: string) => `${what} with such ID is not found`,

  // detail rules (source spec, in its order)
  quantityCodeNotDenumerator: 'Code field of quantity object should be equal to denumerator_unit of one of medication’s innms',
  quantitySystemNotAllowed: 'System field of quantity object is not allowed for kind other than medication_request',
  quantityCodeNotAllowed: 'Code field of quantity object is not allowed for kind other than medication_request',
  programNotFound: 'Program not found',
  medicationNotInProgram: 'Medication is not included in the program',
  medicationActivityForbidden: 'Forbidden to create care plan activity for this medication!',
  serviceNotInProgram: 'Service is not included in the program',
  serviceGroupNotInProgram: 'Service group is not included in the program',
  specialityNotAllowed: 'Author’s specialty doesn\'t allow to create activity with medical program from request',
  diagnosisNotAllowed: 'Care plan diagnosis is not allowed for the medical program',
  termsOfServiceNotAllowed: 'Care plan’s terms of service are not allowed for the medical program',
  patientCategoryMissing: 'Clinical impression with patient category should be present in request for this medical program',
  reasonNotFound: (what: string) => `${what} with such ID is not found`, // eHealth's Prequalify Care Plan Activity spec
  doNotPerform: 'Care plan activity with do_not_perform = true can not be created', // ours
} as const;
