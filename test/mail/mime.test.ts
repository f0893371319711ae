/**
 * buildMime: the spec's headers (emails.md §7) read back by mailparser, no Bcc header with bcc
 * only in the envelope, byte-identical output for identical input, 7-bit output safe to store
 * as text, no header line injectable through any value, and the stream-free serializer equal to
 * nodemailer's own streaming build byte for byte.
 */
import { Readable } from 'node:stream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { listHeaders } from '../../src/mail/list-headers.js';
import { buildMime, serializeMimeTree } from '../../src/mail/mime.js';
import { addresses, headerLines, sampleMimeInput } from './support.js';

/** Decodes adjacent RFC 2047 UTF-8 Q encoded words (all of `value`). */
function decodeQWords(value: string): string {
  const payload = [...value.matchAll(/=\?UTF-8\?Q\?([^?]*)\?=/g)].map((m) => m[1]).join('');
  const latin1 = payload.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(latin1, 'latin1').toString('utf8');
}


test('carries Message-ID, Date, From, To, Cc, Reply-To, Subject, MIME-Version, the extra headers and a text+HTML alternative', async () => {
  const input = sampleMimeInput();
  const { raw } = await buildMime(input);
  const parsed = await simpleParser(raw);

  assert.equal(parsed.messageId, input.messageIdHeader);
  assert.equal(parsed.date?.toISOString(), '2026-05-31T12:00:03.000Z');
  assert.deepEqual(addresses(parsed.from), [{ address: 'receipts@example.test', name: 'Acme Reçus' }]);
  assert.deepEqual(addresses(parsed.to), [{ address: 'alex@customer.test', name: '' }]);
  assert.deepEqual(addresses(parsed.cc), [{ address: 'billing@customer.test', name: 'Billing, Team' }]);
  assert.deepEqual(addresses(parsed.replyTo), [{ address: 'help@example.test', name: 'Help Desk' }]);
  assert.equal(parsed.subject, 'Your receipt — Grüße 🎉');
  assert.equal(parsed.text?.trim(), 'Thank you, Zoë.\nTotal: €12.50');
  assert.equal(parsed.html, '<p>Thank you, Zoë. Total: <b>€12.50</b></p>');

  const lines = headerLines(raw);
  const value = (name: string) => lines.filter(([n]) => n === name).map(([, v]) => v);
  assert.deepEqual(value('Message-ID'), [input.messageIdHeader]);
  assert.deepEqual(value('Date'), ['Sun, 31 May 2026 12:00:03 +0000']);
  assert.deepEqual(value('MIME-Version'), ['1.0']);
  assert.match(value('Content-Type')[0] ?? '', /^multipart\/alternative; boundary=/);
  // Extra headers keep their spelling and values exactly.
  for (const [name, v] of input.headers) assert.deepEqual(value(name), [v], name);
  assert.equal(parsed.headers.get('x-segmentflow-email-send-id'), input.headers[0]![1]);
});

test('never writes a Bcc header; bcc addresses are only in the envelope, after the primary and cc', async () => {
  const input = sampleMimeInput();
  const { raw, envelope } = await buildMime(input);
  const parsed = await simpleParser(raw);
  assert.equal(parsed.bcc, undefined);
  assert.equal(parsed.headers.has('bcc'), false);
  assert.doesNotMatch(raw, /^bcc:/im);
  assert.doesNotMatch(raw, /audit@example\.test/);
  assert.deepEqual(envelope, {
    from: 'receipts@example.test',
    to: ['alex@customer.test', 'billing@customer.test', 'audit@example.test'],
  });
});

test('the envelope lists an address once however often it appears', async () => {
  const { envelope } = await buildMime(
    sampleMimeInput({
      cc: [{ email: 'ALEX@customer.test', name: null }],
      bcc: [{ email: 'audit@example.test', name: null }, { email: 'Audit@Example.test', name: 'again' }],
    }),
  );
  assert.deepEqual(envelope.to, ['alex@customer.test', 'audit@example.test']);
});

test('without cc and reply-to there is no Cc or Reply-To header', async () => {
  const { raw } = await buildMime(sampleMimeInput({ cc: [], bcc: [], replyTo: null, from: { email: 'a@example.test', name: null } }));
  const names = headerLines(raw).map(([n]) => n);
  assert.equal(names.includes('Cc'), false);
  assert.equal(names.includes('Reply-To'), false);
  assert.deepEqual(headerLines(raw).find(([n]) => n === 'From'), ['From', 'a@example.test']);
});

test('is deterministic: the same input gives the same bytes, boundary included', async () => {
  const input = sampleMimeInput();
  const first = await buildMime(input);
  const second = await buildMime(structuredClone(input));
  assert.equal(first.raw, second.raw);
  const other = await buildMime({ ...input, text: `${input.text} (changed)` });
  const boundary = (raw: string) => /boundary="([^"]+)"/.exec(raw)?.[1];
  assert.notEqual(boundary(first.raw), undefined);
  assert.notEqual(boundary(first.raw), boundary(other.raw));
});

test('output is 7-bit ASCII with CRLF lines ≤ 998 octets: encoded words in headers, QP/base64 bodies', async () => {
  const longLine = `<p>${'x'.repeat(3000)}</p>`;
  for (const input of [sampleMimeInput(), sampleMimeInput({ html: longLine, text: 'plain ascii\r\nsecond line\rthird\nfourth' })]) {
    const { raw } = await buildMime(input);
    assert.match(raw, /^[\x00-\x7f]*$/, 'every byte is ASCII');
    assert.doesNotMatch(raw, /\r(?!\n)|(?<!\r)\n/, 'only CRLF line breaks');
    for (const line of raw.split('\r\n')) assert.ok(line.length <= 998, `line of ${line.length} octets`);
    const parsed = await simpleParser(raw);
    assert.equal(parsed.html, input.html);
  }
  const { raw } = await buildMime(sampleMimeInput());
  assert.match(raw, /^Subject: =\?UTF-8\?[QB]\?/m);
  assert.match(raw, /^From: =\?UTF-8\?[QB]\?.*<receipts@example\.test>$/m);
  const encodings = [...raw.matchAll(/^Content-Transfer-Encoding: (.+)$/gm)].map((m) => m[1]);
  assert.equal(encodings.length, 2);
  for (const encoding of encodings) assert.ok(encoding === 'quoted-printable' || encoding === 'base64', encoding);
});

test('CR/LF in the subject, names and extra header values cannot inject a header line', async () => {
  const attack = '\r\nBcc: x@evil.test\r\nX-Injected: yes';
  const input = sampleMimeInput({
    subject: `Hello${attack}`,
    from: { email: 'receipts@example.test', name: `Eve${attack}` },
    cc: [{ email: 'billing@customer.test', name: `Bill\nBcc: y@evil.test` }],
    bcc: [{ email: 'audit@example.test', name: `Aud\rBcc: z@evil.test` }],
    replyTo: { email: 'help@example.test', name: `Help${attack}` },
    headers: [['X-Segmentflow-Email-Send-Id', `id${attack}`]],
  });
  const { raw, envelope } = await buildMime(input);
  const names = headerLines(raw).map(([n]) => n);
  assert.deepEqual(names.sort(), [
    'Cc',
    'Content-Type',
    'Date',
    'From',
    'MIME-Version',
    'Message-ID',
    'Reply-To',
    'Subject',
    'To',
    'X-Segmentflow-Email-Send-Id',
  ]);
  assert.doesNotMatch(raw, /^(bcc|x-injected):/im);
  const parsed = await simpleParser(raw);
  assert.equal(parsed.bcc, undefined);
  assert.equal(parsed.headers.has('x-injected'), false);
  assert.equal(parsed.subject, 'Hello Bcc: x@evil.test X-Injected: yes');
  assert.deepEqual(addresses(parsed.from), [{ address: 'receipts@example.test', name: 'Eve Bcc: x@evil.test X-Injected: yes' }]);
  assert.deepEqual(envelope.to, ['alex@customer.test', 'billing@customer.test', 'audit@example.test']);
});

test('rejects addresses that are not plain addresses, bad header names, reserved headers and a malformed Message-ID', async () => {
  const cases: Parameters<typeof sampleMimeInput>[0][] = [
    { to: { email: 'alex@customer.test\r\nBcc: x@evil.test' } },
    { to: { email: 'Alex <alex@customer.test>' } },
    { from: { email: 'a@example.test, b@evil.test', name: null } },
    { cc: [{ email: 'c@customer.test\n', name: null }] },
    { bcc: [{ email: 'not-an-address', name: null }] },
    { replyTo: { email: 'h@example.test>\r\nX: y', name: null } },
    { headers: [['X-Bad: header', 'v']] },
    { headers: [['X-Bad\r\nBcc', 'v']] },
    { headers: [['Bcc', 'x@evil.test']] },
    { headers: [['message-id', '<other@example.test>']] },
    { headers: [['Content-Type', 'text/plain']] },
    { messageIdHeader: 'no-brackets@example.test' },
    { messageIdHeader: '<a@example.test>\r\nBcc: x@evil.test' },
    { date: new Date(Number.NaN) },
  ];
  for (const overrides of cases) {
    await assert.rejects(buildMime(sampleMimeInput(overrides)), TypeError, JSON.stringify(overrides));
  }
});

test('List-* headers: one-click unsubscribe and a List-Id whose non-ASCII group name is encoded words', async () => {
  const headers = listHeaders({
    unsubscribeUrl: `https://segmentflow.example.test/unsubscribe/${'t'.repeat(300)}`,
    groupName: 'Actualités "Été", été',
    subscriptionGroupId: '0190f3c2-0000-7000-8000-000000000001',
    fromDomain: 'Example.TEST',
  });
  const { raw } = await buildMime(sampleMimeInput({ headers }));
  assert.match(raw, /^[\x00-\x7f]*$/);
  const lines = headerLines(raw);
  const value = (name: string) => lines.find(([n]) => n === name)?.[1];
  assert.equal(value('List-Unsubscribe'), `<https://segmentflow.example.test/unsubscribe/${'t'.repeat(300)}>`);
  assert.equal(value('List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click');
  assert.match(value('List-Id') ?? '', /^=\?UTF-8\?Q\?[^ ]*\?=( =\?UTF-8\?Q\?[^ ]*\?=)* <0190f3c2-0000-7000-8000-000000000001\.lists\.example\.test>$/);
  const parsed = await simpleParser(raw);
  const list = parsed.headers.get('list') as { id?: { name?: string; id?: string }; unsubscribe?: { url?: string } } | undefined;
  assert.equal(list?.id?.id, '0190f3c2-0000-7000-8000-000000000001.lists.example.test');
  // mailparser leaves the phrase's encoded words as they are; decode them here.
  assert.equal(decodeQWords(list?.id?.name ?? ''), 'Actualités "Été", été');
  assert.equal(list?.unsubscribe?.url, `https://segmentflow.example.test/unsubscribe/${'t'.repeat(300)}`);
  assert.throws(() => listHeaders({ unsubscribeUrl: 'https://x.test/u/a>\r\nBcc: e@evil.test', groupName: 'g', subscriptionGroupId: 'i', fromDomain: 'x.test' }), TypeError);
});

/** A small deterministic PRNG (mulberry32), so the generated bodies are the same on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('the stream-free serializer writes exactly the bytes of nodemailer’s streaming build()', async () => {
  const random = prng(20261208);
  // Pieces that move nodemailer's choices: 7bit vs quoted-printable vs base64, soft line breaks,
  // whitespace before a break, lone CR/LF, dots and `=` that QP must escape, astral characters.
  const pieces = ['word', ' ', '\t', '\n', '\r\n', '\r', 'é', '€', '🎉', '=', '.', '..', 'x'.repeat(90), '<p style="margin:0">', '</p>'];
  const body = (maxPieces: number) => Array.from({ length: Math.floor(random() * maxPieces) }, () => pieces[Math.floor(random() * pieces.length)]).join('');
  const cases: ConstructorParameters<typeof MailComposer>[0][] = [
    { text: 'short ascii lines\nonly', html: '<p>short</p>' },
    { text: 'a long ascii line '.repeat(20), html: `<p>${'long html '.repeat(400)}</p>` },
    { text: 'Grüße — 🎉', html: '<p>€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€</p>' },
    { text: '', html: '' },
    { text: 'text only, no html part' },
    { html: '<p>html only</p>' },
    { text: 'with an attachment', html: '<p>att</p>', attachments: [{ filename: 'a.bin', content: Buffer.from([0, 1, 2, 255, 13, 10]) }] },
    ...Array.from({ length: 150 }, () => ({ text: body(120), html: body(200) })),
  ];
  for (const [i, fields] of cases.entries()) {
    const options = { from: 'a@example.test', to: 'b@example.test', subject: `case ${i}`, messageId: `<case${i}@example.test>`, date: new Date(0), baseBoundary: 'fixed', ...fields };
    const streamed = await new MailComposer(options).compile().build();
    const serialized = await serializeMimeTree(new MailComposer(options).compile());
    assert.ok(serialized !== null, `case ${i}: the serializer handles string and Buffer content`);
    assert.equal(serialized.toString('latin1'), streamed.toString('latin1'), `case ${i}`);
  }
});

test('the serializer declines a tree with content only build() can read (a stream)', async () => {
  const node = new MailComposer({ from: 'a@example.test', to: 'b@example.test', text: Readable.from(['streamed']) }).compile();
  assert.equal(await serializeMimeTree(node), null);
});
