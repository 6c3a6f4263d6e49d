/**
 * Starter lists for dictionaries that care plans use but whose values are not public (eHealth shows only examples):
 * a few codes each, every one marked with where it came from (`origin`: an example of the eHealth API documentation,
 * or a placeholder of ours). Administrators replace them with the official lists.
 */
import type { DictionaryCode, DictionaryFile } from '../format.js';

type Origin = 'apiary-example' | 'placeholder';

interface StarterSpec {
  name: string;
  title: string;
  purpose: string;
  aliases?: string[];
  codes: [code: string, en: string, uk: string, origin: Origin][];
}

const STARTERS: StarterSpec[] = [
  {
    name: 'PROVIDING_CONDITIONS',
    title: 'Providing conditions (starter)',
    purpose: 'Care plan terms_of_service and medical program providing_conditions_allowed (the eHealth API names the system PROVIDING_CONDITION, accepted as an alias)',
    aliases: ['PROVIDING_CONDITION'],
    codes: [
      ['INPATIENT', 'Inpatient', 'Стаціонарні умови', 'apiary-example'],
      ['OUTPATIENT', 'Outpatient', 'Амбулаторні умови', 'apiary-example'],
    ],
  },
  {
    name: 'eHealth/care_plan_activity_goals',
    title: 'Care plan activity goals (starter)',
    purpose: 'Care plan activity detail.goal',
    codes: [
      ['diabetes_treatment', 'Diabetes treatment', 'Лікування цукрового діабету', 'apiary-example'],
      ['disease_control', 'Disease control', 'Контроль перебігу захворювання', 'placeholder'],
      ['rehabilitation', 'Rehabilitation', 'Реабілітація', 'placeholder'],
      ['prevention', 'Prevention', 'Профілактика', 'placeholder'],
    ],
  },
  {
    name: 'eHealth/care_plan_activity_cancel_reasons',
    title: 'Care plan activity cancel reasons (starter)',
    purpose: 'Status reason when a care plan activity is cancelled',
    codes: [
      ['typo', 'Entered in error', 'Помилково внесено', 'apiary-example'],
      ['patient_refused', 'Patient refused', 'Відмова пацієнта', 'placeholder'],
      ['not_needed', 'No longer needed', 'Більше не потрібно', 'placeholder'],
    ],
  },
  {
    name: 'eHealth/care_plan_activity_complete_reasons',
    title: 'Care plan activity complete reasons (starter)',
    purpose: 'Status reason when a care plan activity is completed',
    codes: [
      ['completed', 'Completed as planned', 'Виконано згідно з планом', 'apiary-example'],
      ['goal_achieved', 'Goal achieved', 'Мети досягнуто', 'placeholder'],
    ],
  },
  {
    name: 'eHealth/care_plan_activity_outcomes',
    title: 'Care plan activity outcomes (starter)',
    purpose: 'Care plan activity outcome_codeable_concept',
    codes: [
      ['improved', 'Improved', 'Покращення', 'apiary-example'],
      ['no_change', 'No change', 'Без змін', 'placeholder'],
      ['worsened', 'Worsened', 'Погіршення', 'placeholder'],
    ],
  },
  {
    name: 'eHealth/care_plan_categories',
    title: 'Care plan categories (starter)',
    purpose: 'Care plan category',
    codes: [['diabetics', 'Care of patients with diabetes', 'Допомога пацієнтам із цукровим діабетом', 'apiary-example']],
  },
  {
    name: 'eHealth/clinical_impression_patient_categories',
    title: 'Clinical impression patient categories (starter)',
    purpose: 'Clinical impression code; medical program patient_categories_allowed',
    codes: [['insulin_1', 'Insulin therapy, category 1 (example code)', 'Інсулінотерапія, категорія 1 (приклад)', 'apiary-example']],
  },
  {
    name: 'eHealth/activity_remaining_quantity_types',
    title: 'Activity remaining quantity types (starter)',
    purpose: 'Care plan activity remaining_quantity_type',
    codes: [['for_request', 'Remaining for requests', 'Залишок для створення запитів', 'apiary-example']],
  },
  {
    name: 'SERVICE_UNIT',
    title: 'Service units (starter)',
    purpose: 'Quantity units of service_request activities',
    codes: [['MINUTE', 'Minute', 'Хвилина', 'apiary-example']],
  },
  {
    name: 'device_unit',
    title: 'Device units (starter)',
    purpose: 'Quantity units of device_request activities',
    codes: [['piece', 'Piece', 'Штука', 'apiary-example']],
  },
];

export function buildStarters(): DictionaryFile[] {
  return STARTERS.map((s) => ({
    name: s.name,
    title: s.title,
    description:
      `STARTER LIST – replace with the official values. Used for: ${s.purpose}. No public value list exists; the codes here are ` +
      'examples from the eHealth API documentation (origin "apiary-example") or placeholders of ours (origin "placeholder").',
    version: 'starter-1',
    starter: true,
    source: {
      publisher: 'hl7-engine (starter list)',
      description: 'Example codes from the eHealth API Blueprint (esoz-apiary.apib) and placeholders; not authoritative.',
    },
    attribution: 'Starter list of the hl7-engine project; example codes from the eHealth Ukraine API documentation.',
    license: 'MIT (this project)',
    languages: ['en', 'uk'],
    default_language: 'uk',
    ...(s.aliases ? { aliases: s.aliases } : {}),
    properties: [{ code: 'origin', type: 'code', description: 'apiary-example: seen in the eHealth API documentation; placeholder: ours, replace' }],
    codes: s.codes.map(([code, en, uk, origin]): DictionaryCode => ({ code, display: { en, uk }, active: true, properties: { origin } })),
  }));
}
