/**
 * JSON Schemas (ajv) of the care plan API.
 *
 * - `signedDataRequestSchema`: the outer body of signed POSTs, exactly `{"signed_data": "<non-empty string>"}`
 *   (as in the eHealth JSON schemas of signed medical-event requests).
 * - `carePlanActivitySchema`: the signed content, built from the API blueprint's data structures
 *   `Care_Plan_activity_base` + `Care_Plan_activity_detail_base` (the eHealth API Blueprint), tightened by the source
 *   spec where it is stricter: quantity.value is an integer > 0, quantity.system is MEDICATION_UNIT for
 *   medication_request (required there together with code), product types per kind.
 * - `carePlanCreateSchema`: the body of POST /api/patients/{id}/care_plans (`Care_Plan_Create` without server fields).
 */

const uuid = { type: 'string', format: 'uuid' } as const;
const nonEmpty = { type: 'string', minLength: 1 } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;

function coding(system: object, code: object = nonEmpty) {
  return { type: 'object', properties: { system, code, display: { type: 'string' } }, required: ['system', 'code'], additionalProperties: false };
}

/** CodeableConcept whose codings use one of `systems` (any non-empty system when omitted). */
export function codeableConcept(systems?: string[], codes?: string[]) {
  return {
    type: 'object',
    properties: {
      coding: {
        type: 'array',
        minItems: 1,
        items: coding(systems ? { type: 'string', enum: systems } : nonEmpty, codes ? { type: 'string', enum: codes } : nonEmpty),
      },
      text: { type: 'string' },
    },
    required: ['coding'],
    additionalProperties: false,
  };
}

/** Reference_request: {identifier: {type: {coding: [{system: "eHealth/resources", code}]}, value: <uuid>}}. */
export function reference(codes: string[]) {
  return {
    type: 'object',
    properties: {
      identifier: {
        type: 'object',
        properties: {
          type: {
            type: 'object',
            properties: {
              coding: { type: 'array', minItems: 1, maxItems: 1, items: coding({ type: 'string', enum: ['eHealth/resources'] }, { type: 'string', enum: codes }) },
              text: { type: 'string' },
            },
            required: ['coding'],
            additionalProperties: false,
          },
          value: uuid,
        },
        required: ['type', 'value'],
        additionalProperties: false,
      },
    },
    required: ['identifier'],
    additionalProperties: false,
  };
}

const QUANTITY_SYSTEMS = ['MEDICATION_UNIT', 'SERVICE_UNIT', 'device_unit'];

function quantity(valueSchema: object) {
  return {
    type: 'object',
    properties: {
      value: valueSchema,
      system: { type: 'string', enum: QUANTITY_SYSTEMS },
      code: nonEmpty,
      unit: { type: 'string' },
    },
    required: ['value'],
    additionalProperties: false,
  };
}

const ucumQuantity = {
  type: 'object',
  properties: {
    value: { type: 'number' },
    comparator: { type: 'string', enum: ['<', '<=', '>=', '>'] },
    unit: { type: 'string' },
    system: { type: 'string', enum: ['eHealth/ucum/units'] },
    code: nonEmpty,
  },
  required: ['value', 'system', 'code'],
  additionalProperties: false,
};

const period = (endRequired: boolean) => ({
  type: 'object',
  properties: { start: dateTime, end: dateTime },
  required: endRequired ? ['start', 'end'] : ['start'],
  additionalProperties: false,
});

const nonNegativeInt = { type: 'integer', minimum: 0 } as const;
const nonNegative = { type: 'number', minimum: 0 } as const;

const scheduledTiming = {
  type: 'object',
  properties: {
    event: { type: 'array', items: dateTime },
    repeat: {
      type: 'object',
      properties: {
        bounds_duration: ucumQuantity,
        bounds_range: {
          type: 'object',
          properties: { low: ucumQuantity, high: ucumQuantity },
          required: ['low', 'high'],
          additionalProperties: false,
        },
        bounds_period: period(false),
        count: nonNegativeInt,
        count_max: nonNegativeInt,
        duration: nonNegative,
        duration_max: nonNegative,
        duration_unit: nonEmpty,
        frequency: nonNegativeInt,
        frequency_max: nonNegativeInt,
        period: nonNegative,
        period_max: nonNegative,
        period_unit: nonEmpty,
        day_of_week: { type: 'array', items: { type: 'string', enum: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] } },
        time_of_day: { type: 'array', items: { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$' } },
        when: { type: 'array', items: nonEmpty },
        offset: nonNegativeInt,
      },
      additionalProperties: false,
      not: {
        anyOf: [
          { required: ['bounds_duration', 'bounds_range'] },
          { required: ['bounds_duration', 'bounds_period'] },
          { required: ['bounds_range', 'bounds_period'] },
        ],
      },
    },
    code: codeableConcept(['TIMING_ABBREVIATION']),
  },
  additionalProperties: false,
};

const productCodes = (codes: string[]) => ({
  properties: {
    identifier: { properties: { type: { properties: { coding: { items: { properties: { code: { enum: codes } } } } } } } },
  },
});

export const carePlanActivitySchema = {
  $id: 'care_plan_activity_create_signed_content',
  type: 'object',
  properties: {
    id: uuid,
    author: reference(['employee']),
    care_plan: reference(['care_plan']),
    detail: {
      type: 'object',
      properties: {
        kind: { type: 'string', enum: ['service_request', 'medication_request', 'device_request'] },
        product_reference: reference(['service', 'service_group', 'medication', 'device_definition']),
        product_codeable_concept: codeableConcept(['device_definition_classification_type']),
        reason_code: { type: 'array', items: codeableConcept(['eHealth/ICD10_AM/condition_codes', 'eHealth/ICPC2/condition_codes']) },
        reason_reference: {
          type: 'array',
          items: reference(['condition', 'observation', 'diagnostic_report', 'clinical_impression']),
        },
        goal: { type: 'array', items: codeableConcept(['eHealth/care_plan_activity_goals']) },
        // Source spec: "Check $.detail.quantity.value is not empty, is integer, greater than zero".
        quantity: quantity({ type: 'integer', exclusiveMinimum: 0 }),
        scheduled_timing: scheduledTiming,
        scheduled_period: period(true),
        scheduled_string: nonEmpty,
        location: reference(['division']),
        performer: reference(['employee']),
        daily_amount: quantity({ type: 'number', exclusiveMinimum: 0 }),
        description: { type: 'string', maxLength: 2000 },
        do_not_perform: { type: 'boolean' },
        program: reference(['medical_program']),
        // Blueprint: "status: scheduled (string, required)"; the server sets it, so it may be omitted.
        status: { type: 'string', enum: ['scheduled'] },
      },
      required: ['kind', 'do_not_perform'],
      additionalProperties: false,
      allOf: [
        // One of scheduled_timing | scheduled_period | scheduled_string.
        {
          not: {
            anyOf: [
              { required: ['scheduled_timing', 'scheduled_period'] },
              { required: ['scheduled_timing', 'scheduled_string'] },
              { required: ['scheduled_period', 'scheduled_string'] },
            ],
          },
        },
        // One of product_reference | product_codeable_concept.
        { not: { required: ['product_reference', 'product_codeable_concept'] } },
        {
          if: { properties: { kind: { const: 'medication_request' } }, required: ['kind'] },
          then: {
            required: ['product_reference', 'quantity'],
            properties: {
              product_reference: productCodes(['medication']),
              quantity: { required: ['value', 'system', 'code'], properties: { system: { enum: ['MEDICATION_UNIT'] } } },
            },
          },
        },
        {
          if: { properties: { kind: { const: 'service_request' } }, required: ['kind'] },
          then: { required: ['product_reference'], properties: { product_reference: productCodes(['service', 'service_group']) } },
        },
        {
          if: { properties: { kind: { const: 'device_request' } }, required: ['kind'] },
          then: {
            anyOf: [{ required: ['product_reference'] }, { required: ['product_codeable_concept'] }],
            properties: { product_reference: productCodes(['device_definition']) },
          },
        },
      ],
    },
  },
  required: ['id', 'author', 'care_plan', 'detail'],
  additionalProperties: false,
} as const;

export const signedDataRequestSchema = {
  $id: 'signed_data_request',
  type: 'object',
  properties: { signed_data: { type: 'string', minLength: 1 } },
  required: ['signed_data'],
  additionalProperties: false,
} as const;

const CONDITION_SYSTEMS = ['eHealth/ICD10_AM/condition_codes', 'eHealth/ICPC2/condition_codes'];

export const carePlanCreateSchema = {
  $id: 'care_plan_create',
  type: 'object',
  properties: {
    id: uuid,
    based_on: reference(['care_plan']),
    part_of: reference(['care_plan']),
    category: codeableConcept(['eHealth/care_plan_categories']),
    title: { type: 'string', minLength: 1, maxLength: 500 },
    description: { type: 'string', maxLength: 2000 },
    period: period(false),
    supporting_info: { type: 'array', items: reference(['episode_of_care', 'procedure', 'diagnostic_report']) },
    note: { type: 'string', maxLength: 2000 },
    intent: { type: 'string', enum: ['order'] },
    encounter: reference(['encounter']),
    addresses: { type: 'array', minItems: 1, items: codeableConcept(CONDITION_SYSTEMS) },
    author: reference(['employee']),
    contributor: { type: 'array', items: reference(['employee']) },
    terms_of_service: codeableConcept(['PROVIDING_CONDITION']),
    inform_with: {
      type: 'object',
      properties: { auth_method_id: uuid },
      additionalProperties: false,
    },
  },
  required: ['category', 'title', 'period', 'intent', 'addresses', 'author', 'terms_of_service'],
  additionalProperties: false,
} as const;
