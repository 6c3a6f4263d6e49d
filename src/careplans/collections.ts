import type { CollectionSpec } from '../platform/db/mongo.js';

export const CARE_PLANS = 'care_plans';
export const CARE_PLAN_ACTIVITIES = 'care_plan_activities';
export const CARE_PLAN_STATUS_CHANGES = 'care_plan_status_changes';

export const carePlanCollections: CollectionSpec[] = [
  {
    name: CARE_PLANS,
    indexes: [
      { key: { patient_id: 1, status: 1 }, name: 'patient_status' },
      { key: { requisition: 1 }, name: 'requisition' },
    ],
  },
  {
    name: CARE_PLAN_ACTIVITIES,
    indexes: [
      { key: { care_plan_id: 1, inserted_at: 1 }, name: 'care_plan_inserted' },
      { key: { patient_id: 1 }, name: 'patient' },
    ],
  },
  {
    name: CARE_PLAN_STATUS_CHANGES,
    indexes: [
      { key: { care_plan_id: 1 }, name: 'care_plan' },
      { key: { superseded_by: 1 }, name: 'superseded_by' },
    ],
  },
];
