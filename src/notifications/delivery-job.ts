/**
 * The job `notifications.deliver` ({outbox_id}): sends one outbox message to the patient by e-mail and SMS.
 *
 * - Contact details are read from the Patient (Patient.telecom) at delivery, and go nowhere else: not into the
 *   outbox, the job or the logs.
 * - A marketing message to a patient tagged no-marketing is suppressed (nothing is sent).
 * - Each channel is tried until it is sent; a channel that failed is tried again on the next attempt (the one already
 *   sent is not repeated). The job is retried with exponential backoff (NOTIFY_BACKOFF_MS, doubling) up to
 *   NOTIFY_MAX_ATTEMPTS; after the last attempt the message is `failed` and so is the job (502 `delivery_failed`).
 * - A channel without configuration, or a patient without that kind of contact, is `skipped`.
 */
import type { ContactPoint, Patient } from '@medplum/fhirtypes';
import type { Db } from 'mongodb';
import type { Config } from '../platform/config/config.js';
import { fhirStatus } from '../fhir-store/errors.js';
import { JobFailure, type JobDefinition } from '../jobs/types.js';
import { hasNoMarketingTag } from '../lib/fhir-systems.js';
import { DeliveryError } from './delivery-error.js';
import { SmtpEmailSender, type EmailSender } from './email.js';
import { renderNotice } from './notices.js';
import { CHANNELS, DELIVER_NOTIFICATION_JOB, outboxCollection, type Channel, type ChannelState, type OutboxMessage, type OutboxStatus } from './outbox.js';
import { HttpSmsSender, type SmsSender } from './sms.js';

interface DeliverNotificationData {
  outbox_id: string;
}

/** What the job reads: the outbox, the Patient of a tenant, the channel settings. */
interface DeliveryContext {
  config: Pick<Config, 'notifications'>;
  database: { db: Db };
  fhir: { forTenant(tenant: string): { read<T extends Patient>(type: string, id: string): Promise<T> } };
}

interface Senders {
  email?: EmailSender;
  sms?: SmsSender;
}

function sendersFrom(settings: Config['notifications']): Senders {
  return {
    email: settings.email ? new SmtpEmailSender(settings.email.smtpUrl, settings.email.from) : undefined,
    sms: settings.sms ? new HttpSmsSender({ url: settings.sms.url, token: settings.sms.token, sender: settings.sms.sender }) : undefined,
  };
}

const usable = (t: ContactPoint) => !!t.value?.trim() && t.use !== 'old' && !(t.period?.end && Date.parse(t.period.end) < Date.now());

/** The contact of a channel: e-mail from telecom `email`; SMS from `sms`, else a `mobile` phone, else any phone. */
function contactOf(patient: Patient, channel: Channel): string | undefined {
  const telecom = (patient.telecom ?? []).filter(usable).sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity));
  const pick = (match: (t: ContactPoint) => boolean) => telecom.find(match)?.value?.trim();
  if (channel === 'email') return pick((t) => t.system === 'email');
  return pick((t) => t.system === 'sms') ?? pick((t) => t.system === 'phone' && t.use === 'mobile') ?? pick((t) => t.system === 'phone');
}

function patientIdOf(message: OutboxMessage): string {
  const m = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(message.recipient.reference);
  if (!m) throw new JobFailure(422, { type: 'validation_failed', message: 'The outbox message names no Patient' });
  return m[1];
}

/** The job's answer: the message's status per channel (no contact details). */
function summary(message: Pick<OutboxMessage, '_id' | 'kind' | 'status' | 'channels'>) {
  const channels: Record<string, unknown> = {};
  for (const c of CHANNELS) {
    const s = message.channels[c];
    if (s) channels[c] = { status: s.status, ...(s.reason ? { reason: s.reason } : {}), attempts: s.attempts };
  }
  return { outbox_id: message._id, kind: message.kind, status: message.status, channels };
}

export function deliverNotificationJob(settings: Pick<Config['notifications'], 'maxAttempts' | 'backoffMs'>): JobDefinition<DeliverNotificationData, DeliveryContext> {
  return {
    name: DELIVER_NOTIFICATION_JOB,
    description: 'Delivers one outbox notice to a patient (e-mail over SMTP, SMS through the HTTP provider), retried with backoff',
    options: { concurrency: 5, maxAttempts: settings.maxAttempts, backoffMs: settings.backoffMs, lockLifetimeMs: 120_000 },
    create(ctx) {
      const outbox = outboxCollection(ctx.database.db);
      const send = sendersFrom(ctx.config.notifications);
      return async (data, job) => {
        const message = await outbox.findOne({ _id: String(data?.outbox_id) });
        if (!message) throw new JobFailure(404, { type: 'not_found', message: 'Outbox message not found' });
        // Finished notices are not sent again; a failed one is tried again when an operator re-runs its job (the
        // channels already sent are skipped below).
        if (message.status !== 'pending' && message.status !== 'failed') return { status_code: 200, response_data: summary(message) };

        const save = async (status: OutboxStatus, channels: OutboxMessage['channels']) => {
          const set = { status, channels, attempts: job.attempt, job_id: job.id, updated_at: new Date() };
          await outbox.updateOne({ _id: message._id }, { $set: set });
          return { ...message, ...set };
        };

        let patient: Patient;
        try {
          patient = await ctx.fhir.forTenant(message.tenant).read<Patient>('Patient', patientIdOf(message));
        } catch (err) {
          const status = fhirStatus(err);
          if (status !== 404 && status !== 410) throw err; // the FHIR store is unavailable: retried
          const skipped = { email: { status: 'skipped', attempts: 0 }, sms: { status: 'skipped', attempts: 0 } } as const;
          await save('skipped', skipped);
          throw new JobFailure(404, { type: 'not_found', message: `The recipient ${message.recipient.reference} does not exist` });
        }
        if (message.category !== 'transactional' && hasNoMarketingTag(patient)) {
          return { status_code: 200, response_data: summary(await save('suppressed', {})) };
        }

        const text = renderNotice(message);
        const channels: OutboxMessage['channels'] = { ...message.channels };
        const failures: string[] = [];
        for (const channel of CHANNELS) {
          const before: ChannelState = channels[channel] ?? { status: 'pending', attempts: 0 };
          if (before.status === 'sent' || before.status === 'skipped') continue;
          const sender = send[channel];
          const to = sender ? contactOf(patient, channel) : undefined;
          if (!sender || !to) {
            channels[channel] = { status: 'skipped', reason: sender ? 'no_contact' : 'not_configured', attempts: before.attempts };
            continue;
          }
          try {
            const sent =
              channel === 'email'
                ? await send.email!.send({ to, subject: text.subject, text: text.email, reference: message._id })
                : await send.sms!.send({ to, text: text.sms, reference: message._id });
            channels[channel] = { status: 'sent', attempts: before.attempts + 1, sent_at: new Date(), ...(sent.id ? { provider_id: sent.id } : {}) };
          } catch (err) {
            const reason = err instanceof DeliveryError ? err.message : `${channel} delivery failed`;
            channels[channel] = { status: 'failed', attempts: before.attempts + 1, last_error: reason };
            failures.push(`${channel}: ${reason}`);
          }
        }

        if (failures.length > 0) {
          const last = job.attempt >= settings.maxAttempts;
          const saved = await save(last ? 'failed' : 'pending', channels);
          if (last) {
            throw new JobFailure(502, {
              type: 'delivery_failed',
              message: `Notice not delivered after ${job.attempt} attempts: ${failures.join('; ')}`,
              ...summary(saved),
            });
          }
          throw new Error(failures.join('; ')); // retried with backoff
        }
        const sentAny = CHANNELS.some((c) => channels[c]?.status === 'sent');
        return { status_code: 200, response_data: summary(await save(sentAny ? 'sent' : 'skipped', channels)) };
      };
    },
  };
}
