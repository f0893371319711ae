/**
 * The smtp transport against a real in-process SMTP server (test/harness/smtp-sink.ts): the
 * stored MIME arrives byte for byte with every spec header, bcc only in RCPT TO; refusals and
 * connection failures become TransportErrors with the right `permanent`; URL options parse.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  createSmtpTransport,
  enhancedStatusCode,
  queueIdFromResponse,
  toTransportError,
} from '../../src/mail/smtp-transport.js';
import { parseSmtpUrl } from '../../src/mail/smtp-url.js';
import { TransportError, isHardBounceCode, type MailTransport } from '../../src/mail/transport.js';
import { startSmtpSink, type SmtpSink, type SmtpSinkOptions } from '../harness/smtp-sink.js';
import { addresses, outboundMessage, sampleMimeInput } from './support.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // Transports first: smtp-server waits for pooled connections before it closes.
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function sink(options?: SmtpSinkOptions): Promise<SmtpSink> {
  const started = await startSmtpSink(options);
  cleanups.unshift(() => started.close());
  return started;
}

function transport(url: string): MailTransport {
  const created = createSmtpTransport(url);
  cleanups.push(() => created.close());
  return created;
}

async function rejection(promise: Promise<unknown>): Promise<TransportError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TransportError, `expected a TransportError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the send to fail');
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('parseSmtpUrl', () => {
  test('smtp:// defaults to port 587, a pool of 5, verified certificates and opportunistic STARTTLS', () => {
    const parsed = parseSmtpUrl('smtp://mailer:s%3Acret%40@smtp.example.test');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, {
      secure: false,
      host: 'smtp.example.test',
      port: 587,
      auth: { user: 'mailer', pass: 's:cret@' },
      pool: true,
      maxConnections: 5,
      rejectUnauthorized: true,
      requireTLS: false,
      connectionTimeoutMs: null,
      greetingTimeoutMs: null,
      socketTimeoutMs: null,
    });
  });

  test('smtps:// is implicit TLS on 465; query options override the defaults', () => {
    const parsed = parseSmtpUrl(
      'smtps://smtp.example.test?pool=false&maxConnections=2&rejectUnauthorized=false&requireTLS=true&greetingTimeout=500',
    );
    assert.ok(parsed.ok);
    assert.equal(parsed.value.secure, true);
    assert.equal(parsed.value.port, 465);
    assert.equal(parsed.value.auth, null);
    assert.equal(parsed.value.pool, false);
    assert.equal(parsed.value.maxConnections, 2);
    assert.equal(parsed.value.rejectUnauthorized, false);
    assert.equal(parsed.value.requireTLS, true);
    assert.equal(parsed.value.greetingTimeoutMs, 500);
    const explicit = parseSmtpUrl('smtp://[::1]:2525');
    assert.ok(explicit.ok);
    assert.equal(explicit.value.host, '::1');
    assert.equal(explicit.value.port, 2525);
  });

  test('reports every problem at once', () => {
    const parsed = parseSmtpUrl('smtp://h.test/path?pool=maybe&maxConnections=0&tls=1');
    assert.ok(!parsed.ok);
    assert.deepEqual(parsed.error.sort(), [
      'a path is not allowed',
      'maxConnections must be an integer 1–1000',
      'pool must be true or false',
      'unknown option tls',
    ]);
    assert.ok(!parseSmtpUrl('http://h.test').ok);
    assert.ok(!parseSmtpUrl('not a url').ok);
    assert.throws(() => createSmtpTransport('smtp://h.test?pool=maybe'), /pool must be true or false/);
  });
});

describe('smtp transport over a real SMTP server', () => {
  test('hands over the stored MIME byte for byte: every header, both parts, bcc in RCPT TO only', async () => {
    const server = await sink();
    const smtp = transport(server.url);
    const input = sampleMimeInput();
    const msg = await outboundMessage(input);

    const result = await smtp.send(msg);

    assert.equal(smtp.name, 'smtp');
    assert.deepEqual(result, { transportMessageId: 'SINK1' });
    assert.equal(server.messages.length, 1);
    const received = server.messages[0]!;
    assert.deepEqual(received.envelope, {
      from: 'receipts@example.test',
      to: ['alex@customer.test', 'billing@customer.test', 'audit@example.test'],
    });
    assert.equal(received.raw.toString('latin1'), msg.raw.toString('latin1'));

    const parsed = received.parsed;
    assert.equal(parsed.messageId, input.messageIdHeader);
    assert.deepEqual(addresses(parsed.from), [{ address: 'receipts@example.test', name: 'Acme Reçus' }]);
    assert.deepEqual(addresses(parsed.to), [{ address: 'alex@customer.test', name: '' }]);
    assert.deepEqual(addresses(parsed.cc), [{ address: 'billing@customer.test', name: 'Billing, Team' }]);
    assert.deepEqual(addresses(parsed.replyTo), [{ address: 'help@example.test', name: 'Help Desk' }]);
    assert.equal(parsed.subject, 'Your receipt — Grüße 🎉');
    assert.equal(parsed.headers.get('x-segmentflow-email-send-id'), msg.emailSendId);
    const list = parsed.headers.get('list') as { unsubscribe?: { url?: string }; id?: { id?: string } } | undefined;
    assert.equal(list?.unsubscribe?.url, `https://segmentflow.example.test/unsubscribe/tok.${msg.emailSendId}`);
    assert.equal(list?.id?.id, '0190f3c2-0000-7000-8000-000000000001.lists.example.test');
    assert.match(received.raw.toString('latin1'), /^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
    assert.equal(parsed.html, '<p>Thank you, Zoë. Total: <b>€12.50</b></p>');
    assert.equal(parsed.text?.trim(), 'Thank you, Zoë.\nTotal: €12.50');
    assert.equal(parsed.bcc, undefined);
    assert.equal(parsed.headers.has('bcc'), false);
    assert.doesNotMatch(received.raw.toString('latin1'), /^bcc:/im);
  });

  test('CR/LF in the subject or names reaches the receiver as text, never as a Bcc header or recipient', async () => {
    const server = await sink();
    const attack = '\r\nBcc: x@evil.test';
    const msg = await outboundMessage(
      sampleMimeInput({
        subject: `Hi${attack}`,
        from: { email: 'receipts@example.test', name: `Eve${attack}` },
        cc: [{ email: 'billing@customer.test', name: `Bill${attack}` }],
        bcc: [],
      }),
    );
    await transport(server.url).send(msg);
    const received = server.messages[0]!;
    assert.deepEqual(received.envelope.to, ['alex@customer.test', 'billing@customer.test']);
    assert.equal(received.parsed.bcc, undefined);
    assert.doesNotMatch(received.raw.toString('latin1'), /^bcc:/im);
    assert.equal(received.parsed.subject, 'Hi Bcc: x@evil.test');
  });

  test('a 550 5.1.1 refusal of the recipient is permanent, with the enhanced code and the response', async () => {
    const server = await sink({ rejectRecipient: () => ({ code: 550, message: '5.1.1 <alex@customer.test>: User unknown' }) });
    const smtp = transport(server.url);
    const error = await rejection(smtp.send(await outboundMessage(sampleMimeInput({ cc: [], bcc: [] }))));
    assert.equal(error.permanent, true);
    assert.equal(error.code, '5.1.1');
    assert.equal(error.responseCode, 550);
    assert.equal(error.response, '550 5.1.1 <alex@customer.test>: User unknown');
    assert.ok(isHardBounceCode(error.code));
    assert.equal(server.messages.length, 0);
  });

  test('a 451 refusal is transient', async () => {
    const server = await sink({ rejectRecipient: () => ({ code: 451, message: '4.3.0 Try again later' }) });
    const smtp = transport(server.url);
    const error = await rejection(smtp.send(await outboundMessage(sampleMimeInput())));
    assert.equal(error.permanent, false);
    assert.equal(error.code, '4.3.0');
    assert.equal(error.responseCode, 451);
    assert.equal(server.messages.length, 0);

    const plain = await sink({ rejectRecipient: () => ({ code: 451, message: 'Greylisted' }) });
    const error2 = await rejection(transport(plain.url).send(await outboundMessage(sampleMimeInput())));
    assert.equal(error2.permanent, false);
    assert.equal(error2.code, 'EENVELOPE');
  });

  test('a refused bcc does not fail the send; it is reported in rejectedRecipients', async () => {
    const server = await sink({
      rejectRecipient: (address) => (address === 'audit@example.test' ? { code: 550, message: '5.1.1 No such user' } : null),
    });
    const smtp = transport(server.url);
    const result = await smtp.send(await outboundMessage(sampleMimeInput()));
    assert.equal(result.transportMessageId, 'SINK1');
    assert.deepEqual(result.rejectedRecipients, [
      { recipient: 'audit@example.test', permanent: true, code: '5.1.1', response: '550 5.1.1 No such user', responseCode: 550 },
    ]);
    assert.deepEqual(server.messages[0]?.envelope.to, ['alex@customer.test', 'billing@customer.test']);
  });

  test('a refused primary recipient fails the send even when cc was accepted', async () => {
    const server = await sink({
      rejectRecipient: (address) => (address === 'alex@customer.test' ? { code: 550, message: '5.1.1 No such user' } : null),
    });
    const error = await rejection(transport(server.url).send(await outboundMessage(sampleMimeInput())));
    assert.equal(error.permanent, true);
    assert.equal(error.code, '5.1.1');
    assert.equal(error.recipient, 'alex@customer.test');
  });

  test('a closed port is transient', async () => {
    const port = await closedPort();
    for (const url of [`smtp://127.0.0.1:${port}`, `smtp://127.0.0.1:${port}?pool=false`]) {
      const error = await rejection(transport(url).send(await outboundMessage(sampleMimeInput())));
      assert.equal(error.permanent, false, url);
      assert.equal(error.responseCode, undefined);
      assert.ok(error.code === 'ESOCKET' || error.code === 'ECONNECTION', `${url}: ${error.code}`);
    }
  });

  test('a server that never greets times out as transient', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.unshift(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const { port } = silent.address() as AddressInfo;
    const error = await rejection(
      transport(`smtp://127.0.0.1:${port}?pool=false&greetingTimeout=150`).send(await outboundMessage(sampleMimeInput())),
    );
    assert.equal(error.permanent, false);
    assert.equal(error.code, 'ETIMEDOUT');
  });

  test('logs in with the URL-decoded credentials', async () => {
    const server = await sink();
    const smtp = transport(`smtp://mail%40er:p%3Ass%20w@127.0.0.1:${server.port}`);
    await smtp.send(await outboundMessage(sampleMimeInput()));
    assert.deepEqual(server.logins, [{ username: 'mail@er', password: 'p:ss w' }]);
    assert.equal(server.messages[0]?.authUser, 'mail@er');
  });

  test('the pool delivers concurrent sends; pool=false works too', async () => {
    const server = await sink();
    const pooled = transport(`${server.url}?maxConnections=2`);
    const results = await Promise.all(
      Array.from({ length: 6 }, async () => pooled.send(await outboundMessage(sampleMimeInput({ cc: [], bcc: [] })))),
    );
    assert.deepEqual(results.map((r) => r.transportMessageId).sort(), ['SINK1', 'SINK2', 'SINK3', 'SINK4', 'SINK5', 'SINK6']);
    const single = transport(`${server.url}?pool=false`);
    assert.equal((await single.send(await outboundMessage(sampleMimeInput()))).transportMessageId, 'SINK7');
    assert.equal(server.messages.length, 7);
  });
});

describe('error mapping', () => {
  const nodemailerError = (fields: Record<string, unknown>) => Object.assign(new Error('failed'), fields);

  test('5xx to MAIL FROM / RCPT TO / DATA is permanent; 503, 4xx, auth and connection failures are not', () => {
    const cases: [Record<string, unknown>, boolean][] = [
      [{ code: 'EENVELOPE', command: 'MAIL FROM', response: '550 5.7.1 Sender rejected', responseCode: 550 }, true],
      [{ code: 'EENVELOPE', command: 'RCPT TO', response: '552 5.2.2 Mailbox full', responseCode: 552 }, true],
      [{ code: 'EMESSAGE', command: 'DATA', response: '554 5.6.0 Message rejected', responseCode: 554 }, true],
      [{ code: 'EENVELOPE', command: 'API' }, true],
      [{ code: 'EENVELOPE', command: 'RCPT TO', response: '503 5.5.1 Bad sequence', responseCode: 503 }, false],
      [{ code: 'EMESSAGE', command: 'DATA', response: '421 4.4.2 Timeout', responseCode: 421 }, false],
      [{ code: 'EAUTH', command: 'AUTH PLAIN', response: '535 5.7.8 Bad credentials', responseCode: 535 }, false],
      [{ code: 'ECONNECTION', command: 'CONN', response: '554 No SMTP service here', responseCode: 554 }, false],
      [{ code: 'ETLS', command: 'CONN' }, false],
      [{ code: 'ETIMEDOUT', command: 'CONN' }, false],
    ];
    for (const [fields, permanent] of cases) {
      const mapped = toTransportError(nodemailerError(fields));
      assert.equal(mapped.permanent, permanent, JSON.stringify(fields));
      assert.equal(mapped.responseCode, fields.responseCode);
    }
    assert.equal(toTransportError(nodemailerError({ code: 'EAUTH', response: '535 5.7.8 Bad', responseCode: 535 })).code, '5.7.8');
    assert.equal(toTransportError(nodemailerError({ code: 'ETLS' })).code, 'ETLS');
    assert.equal(toTransportError('not even an error').permanent, false);
  });

  test('enhanced status codes and queue ids are read from replies', () => {
    assert.equal(enhancedStatusCode('550 5.1.1 <a@b.test>: Recipient address rejected'), '5.1.1');
    assert.equal(enhancedStatusCode('550-5.1.1 The email account does not exist'), '5.1.1');
    assert.equal(enhancedStatusCode('550 Mailbox unavailable'), undefined);
    assert.equal(enhancedStatusCode(undefined), undefined);
    assert.equal(queueIdFromResponse('250 2.0.0 Ok: queued as 4F7E21C0E'), '4F7E21C0E');
    assert.equal(queueIdFromResponse('250 OK id=1qXyZ-000abc-12'), '1qXyZ-000abc-12');
    assert.equal(queueIdFromResponse('250 Message queued as <q1@relay.test>'), 'q1@relay.test');
    assert.equal(queueIdFromResponse('250 OK: message queued'), undefined);
  });
});
