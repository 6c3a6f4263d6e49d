/**
 * SMS through an HTTP provider. The engine speaks one small JSON protocol; an adapter in front of a provider that
 * speaks another translates it:
 *
 *   POST <NOTIFY_SMS_URL>
 *   Authorization: Bearer <NOTIFY_SMS_TOKEN>
 *   Content-Type: application/json
 *   {"to": "+4791234567", "text": "…", "reference": "<outbox message id>", "sender": "<NOTIFY_SMS_SENDER>"?}
 *
 * Any 2xx is accepted (an `id` in a JSON answer is kept as the provider's message id); anything else, or no answer
 * within 10 s, is a failed attempt that is retried. `reference` lets a provider drop a repeated send.
 */
import { DeliveryError } from './delivery-error.js';

export interface SmsSender {
  send(sms: { to: string; text: string; reference: string }): Promise<{ id?: string }>;
}

export class HttpSmsSender implements SmsSender {
  constructor(private readonly options: { url: string; token: string; sender?: string; timeoutMs?: number }) {}

  async send(sms: { to: string; text: string; reference: string }): Promise<{ id?: string }> {
    let res: Response;
    try {
      res = await fetch(this.options.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ to: sms.to, text: sms.text, reference: sms.reference, ...(this.options.sender ? { sender: this.options.sender } : {}) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        redirect: 'error',
      });
    } catch (err) {
      const name = (err as Error)?.name;
      throw new DeliveryError(`SMS provider not reachable (${name === 'TimeoutError' ? 'timeout' : 'connection failed'})`);
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) throw new DeliveryError(`SMS provider answered HTTP ${res.status}`);
    try {
      const id = (JSON.parse(text) as { id?: unknown }).id;
      return { id: typeof id === 'string' || typeof id === 'number' ? String(id).slice(0, 200) : undefined };
    } catch {
      return {};
    }
  }
}
