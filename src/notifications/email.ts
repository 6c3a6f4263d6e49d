/**
 * E-mail over SMTP (nodemailer). NOTIFY_SMTP_URL holds host, port, credentials and options
 * (`smtp://user:pass@smtp.example:587`, `smtps://…:465` for implicit TLS); STARTTLS is used when the server offers it.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import { DeliveryError } from './delivery-error.js';

export interface EmailSender {
  send(mail: { to: string; subject: string; text: string; reference: string }): Promise<{ id?: string }>;
}

export class SmtpEmailSender implements EmailSender {
  private readonly transport: Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
  ) {
    this.transport = nodemailer.createTransport({
      url: smtpUrl,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
      // nodemailer's own logger stays off: it would write addresses.
      logger: false,
    });
  }

  async send(mail: { to: string; subject: string; text: string; reference: string }): Promise<{ id?: string }> {
    try {
      const info = await this.transport.sendMail({
        from: this.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        headers: { 'X-Notification-Id': mail.reference },
      });
      return { id: typeof info.messageId === 'string' ? info.messageId : undefined };
    } catch (err) {
      const e = err as { code?: unknown; responseCode?: unknown };
      const parts = [typeof e.code === 'string' ? e.code : undefined, typeof e.responseCode === 'number' ? `SMTP ${e.responseCode}` : undefined].filter(Boolean);
      throw new DeliveryError(`e-mail not accepted (${parts.join(', ') || 'SMTP error'})`);
    }
  }
}
