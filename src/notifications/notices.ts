/**
 * What a patient receives for each notice: the e-mail subject and text and the SMS text. Norwegian (bokmål), plain
 * text, no name and nothing of the consultation result: a notice tells that something happened and where to go.
 */
import type { OutboxMessage } from './outbox.js';

interface RenderedNotice {
  subject: string;
  email: string;
  sms: string;
}

export function renderNotice(message: Pick<OutboxMessage, 'kind' | 'payload'>): RenderedNotice {
  switch (message.kind) {
    case 'consultation.session_links': {
      const { chat_url: chat, video_url: video } = message.payload;
      return {
        subject: 'Konsultasjonen din har startet',
        email: [
          'Hei,',
          '',
          'helsepersonellet er klart for konsultasjonen din nå.',
          '',
          `Chat: ${chat}`,
          `Video: ${video}`,
          '',
          'Lenkene er personlige: ikke del dem med andre.',
          '',
          'Denne meldingen kan ikke besvares.',
        ].join('\n'),
        sms: `Konsultasjonen din har startet. Chat: ${chat} Video: ${video} (personlige lenker, ikke del dem)`,
      };
    }
    case 'consultation.completed':
      return {
        subject: 'Konsultasjonen din er avsluttet',
        email: [
          'Hei,',
          '',
          'konsultasjonen din er avsluttet. Takk for at du brukte tjenesten.',
          'Har du spørsmål om oppfølgingen, ta kontakt med den som henviste deg.',
          '',
          'Denne meldingen kan ikke besvares.',
        ].join('\n'),
        sms: 'Konsultasjonen din er avsluttet. Takk for at du brukte tjenesten.',
      };
  }
}
