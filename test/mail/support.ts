/**
 * Shared fixtures for the mail tests: a complete MIME input (non-ASCII subject and names, cc,
 * bcc, reply-to, the X-Segmentflow and List-* headers) and the OutboundMessage a worker would
 * hand a transport for it.
 */
import type { AddressObject } from 'mailparser';
import { uuidV7 } from '../../src/lib/ids.js';
import { listHeaders } from '../../src/mail/list-headers.js';
import { buildMime, formatAddress, type MimeInput } from '../../src/mail/mime.js';
import type { OutboundMessage } from '../../src/mail/transport.js';

export function sampleMimeInput(overrides: Partial<MimeInput> = {}): MimeInput {
  const emailSendId = uuidV7();
  return {
    messageIdHeader: `<${emailSendId}@example.test>`,
    date: new Date('2026-05-31T12:00:03.000Z'),
    from: { email: 'receipts@example.test', name: 'Acme Reçus' },
    to: { email: 'alex@customer.test' },
    cc: [{ email: 'billing@customer.test', name: 'Billing, Team' }],
    bcc: [{ email: 'audit@example.test', name: 'Audit' }],
    replyTo: { email: 'help@example.test', name: 'Help Desk' },
    subject: 'Your receipt — Grüße 🎉',
    html: '<p>Thank you, Zoë. Total: <b>€12.50</b></p>',
    text: 'Thank you, Zoë.\nTotal: €12.50',
    headers: [
      ['X-Segmentflow-Email-Send-Id', emailSendId],
      ...listHeaders({
        unsubscribeUrl: `https://segmentflow.example.test/unsubscribe/tok.${emailSendId}`,
        groupName: 'Product "News"',
        subscriptionGroupId: '0190f3c2-0000-7000-8000-000000000001',
        fromDomain: 'example.test',
      }),
    ],
    ...overrides,
  };
}

/** Builds the MIME for `input` and wraps it the way the delivery worker does. */
export async function outboundMessage(input: MimeInput, organizationId: string = uuidV7()): Promise<OutboundMessage> {
  const built = await buildMime(input);
  const emailSendId = input.headers.find(([name]) => name === 'X-Segmentflow-Email-Send-Id')?.[1] ?? uuidV7();
  return {
    organizationId,
    emailSendId,
    idempotencyKey: emailSendId,
    messageIdHeader: input.messageIdHeader,
    envelope: built.envelope,
    raw: Buffer.from(built.raw, 'ascii'),
    structured: {
      from: formatAddress(input.from),
      to: input.to.email,
      cc: input.cc.map(formatAddress),
      replyTo: input.replyTo === null ? null : formatAddress(input.replyTo),
      subject: input.subject,
      html: input.html,
      text: input.text,
      headers: input.headers,
    },
  };
}

/** The header block of a raw message, unfolded, as `[name, value]` lines in order. */
export function headerLines(raw: string): [string, string][] {
  const block = raw.slice(0, raw.indexOf('\r\n\r\n'));
  const unfolded = block.replace(/\r\n[ \t]/g, ' ');
  return unfolded.split('\r\n').map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
}

/** mailparser's address header value as plain `{ address, name }` entries. */
export function addresses(value: AddressObject | AddressObject[] | undefined): { address: string | undefined; name: string }[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return list.flatMap((a) => a.value.map((v) => ({ address: v.address, name: v.name })));
}
