/**
 * Consultation service-level metrics:
 *   WAITING_TIME       = starts_at − created_at   (how long the patient waited for the practitioner)
 *   TREATMENT_DURATION = ends_at − starts_at      (how long the consultation took)
 * Stored per consultation (seconds) when the transition happens, aggregated per day/organization by the API, and
 * observed into Prometheus histograms (label: organization).
 */
import { Counter, Histogram } from 'prom-client';
import { metricsRegistry } from '../platform/metrics/registry.js';

export const waitingTimeHistogram = new Histogram({
  name: 'consultation_waiting_time_seconds',
  help: 'WAITING_TIME of consultations (starts_at - created_at), observed when a consultation starts',
  labelNames: ['organization'] as const,
  buckets: [60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400, 172_800, 604_800],
  registers: [metricsRegistry],
});

export const treatmentDurationHistogram = new Histogram({
  name: 'consultation_treatment_duration_seconds',
  help: 'TREATMENT_DURATION of consultations (ends_at - starts_at), observed when a consultation is finished',
  labelNames: ['organization'] as const,
  buckets: [60, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 7200],
  registers: [metricsRegistry],
});

export const consultationTransitions = new Counter({
  name: 'consultation_transitions_total',
  help: 'Consultation lifecycle actions by action and outcome (applied, conflict)',
  labelNames: ['action', 'outcome'] as const,
  registers: [metricsRegistry],
});

export function secondsBetween(from: Date, to: Date): number {
  return Math.max(0, (to.getTime() - from.getTime()) / 1000);
}

/** Durations shown to people (Encounter.length, the insurer report) are whole seconds: a short consultation is not 0. */
export function wholeSeconds(seconds: number): number {
  return Math.round(seconds);
}

export function orgLabel(organizationId: string | null): string {
  return organizationId ?? 'none';
}

export interface MetricAggregate {
  count: number;
  avg_seconds: number | null;
  min_seconds: number | null;
  max_seconds: number | null;
  p50_seconds: number | null;
  p90_seconds: number | null;
}

function percentile(sorted: number[], p: number): number {
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[idx];
}

export function aggregate(values: number[]): MetricAggregate {
  if (values.length === 0) {
    return { count: 0, avg_seconds: null, min_seconds: null, max_seconds: null, p50_seconds: null, p90_seconds: null };
  }
  const sorted = [...values].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    count: sorted.length,
    avg_seconds: round(sorted.reduce((s, v) => s + v, 0) / sorted.length),
    min_seconds: round(sorted[0]),
    max_seconds: round(sorted[sorted.length - 1]),
    p50_seconds: round(percentile(sorted, 0.5)),
    p90_seconds: round(percentile(sorted, 0.9)),
  };
}
