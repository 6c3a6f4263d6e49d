/** Response shapes: Care_Plan_Show and Care_plan_activity_show (+ audit fields), API blueprint. */
import type { ActivityDoc, CarePlanDoc, StatusHistoryEntry } from './types.js';
import { ref } from './types.js';

const iso = (d: Date | undefined) => (d ? new Date(d).toISOString() : undefined);

function history(h: StatusHistoryEntry[]) {
  return h.map((e) => ({ status: e.status, ...(e.status_reason ? { status_reason: e.status_reason } : {}), inserted_at: iso(e.inserted_at), inserted_by: e.inserted_by }));
}

function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

export function carePlanView(p: CarePlanDoc): Record<string, unknown> {
  return compact({
    id: p._id,
    based_on: p.based_on,
    part_of: p.part_of,
    category: p.category,
    title: p.title,
    description: p.description,
    period: p.period,
    supporting_info: p.supporting_info,
    note: p.note,
    intent: p.intent,
    encounter: p.encounter,
    addresses: p.addresses,
    author: p.author,
    contributor: p.contributor,
    terms_of_service: p.terms_of_service,
    subject: ref('patient', p.patient_id),
    status: p.status,
    status_reason: p.status_reason,
    managing_organization: p.managing_organization,
    status_history: history(p.status_history),
    requisition: p.requisition,
    inserted_at: iso(p.inserted_at),
    inserted_by: p.inserted_by,
    updated_at: iso(p.updated_at),
    updated_by: p.updated_by,
  });
}

export function activityView(a: ActivityDoc): Record<string, unknown> {
  return compact({
    id: a._id,
    author: a.author,
    care_plan: a.care_plan,
    detail: a.detail,
    outcome_reference: a.outcome_reference,
    outcome_codeable_concept: a.outcome_codeable_concept,
    inserted_at: iso(a.inserted_at),
    inserted_by: a.inserted_by,
    updated_at: iso(a.updated_at),
    updated_by: a.updated_by,
  });
}
