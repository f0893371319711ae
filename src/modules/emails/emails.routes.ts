/**
 * HTTP routes of emails (emails.md §1–3): send, batch send, retrieve, list, captured message.
 * Thin: schema → the checks JSON Schema cannot state (friendly addresses, recipient) → service.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ValidateFunction } from 'ajv';
import { Type } from 'typebox';
import { simpleParser } from 'mailparser';
import { principalOf } from '../../http/auth.js';
import { domainHttpError, errorOutcome } from '../../http/domain-errors.js';
import { toHttpError } from '../../http/error-handler.js';
import { HttpError, validationError, type FieldError } from '../../http/errors.js';
import { isValidIdempotencyKey, readIdempotencyKey, requestFingerprint, type Outcome } from '../../http/idempotency.js';
import { ErrorResponses } from '../../http/openapi.js';
import type { RouteContext } from '../../http/route-context.js';
import { pageOf, pageStart } from '../../http/pagination.js';
import { bodyAjv, fieldErrorsFromAjv } from '../../http/validation.js';
import { parseDateTime } from '../../lib/date-time.js';
import { canonicalEmail, parseFriendlyAddress } from '../../lib/email.js';
import { getCapturedMessage } from '../../mail/capture-transport.js';
import { BatchBody, BatchItem, BatchResultSchema, CapturedMessageSchema, EmailIdParams, EmailSendSchema, ListEmailsQuery, SendEmailBody } from './emails.schema.js';
import { createEmailSend, type SendRequest } from './emails.service.js';
import { selectEmailSend, selectEmailSendsPage } from './emails.store.js';
import { toEmailSendView, type Address } from './emails.view.js';

const TAGS = ['emails'];
const MAX_DATA_BYTES = 256 * 1024;
const MAX_COPIES = 10;

/** Turns a schema-valid body into a SendRequest, or the field errors JSON Schema cannot catch. */
export function toSendRequest(body: SendEmailBody): { ok: true; request: SendRequest } | { ok: false; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const at = (pointer: string, message: string) => errors.push({ in: 'body', pointer, message });
  const one = (value: string | undefined, field: string): Address | undefined => {
    if (value === undefined) return undefined;
    const parsed = parseFriendlyAddress(value);
    if (!parsed) at(`/${field}`, 'must be an address: email, "Name email" or "Name <email>"');
    return parsed ?? undefined;
  };
  const many = (value: string | string[] | undefined, field: string): Address[] => {
    if (value === undefined) return [];
    const parts = (Array.isArray(value) ? value.map((v, i) => [v, `/${field}/${i}`] as const) : [[value, `/${field}`] as const]).flatMap(([v, pointer]) =>
      splitAddresses(v).map((p) => [p, pointer] as const),
    );
    if (parts.length > MAX_COPIES) at(`/${field}`, `at most ${MAX_COPIES} addresses`);
    const out: Address[] = [];
    for (const [text, pointer] of parts) {
      const parsed = parseFriendlyAddress(text);
      if (parsed) out.push({ email: canonicalEmail(parsed.email), name: parsed.name });
      else errors.push({ in: 'body', pointer, message: `${JSON.stringify(text)} is not an address` });
    }
    return out;
  };
  const from = one(body.from, 'from');
  const replyTo = one(body.replyTo, 'replyTo');
  const cc = many(body.cc, 'cc');
  const bcc = many(body.bcc, 'bcc');
  if (body.profileId === undefined && body.to?.email === undefined && body.to?.externalId === undefined) at('/to', 'give profileId, or to with an email and/or externalId');
  const data = body.data ?? {};
  if (Buffer.byteLength(JSON.stringify(data)) > MAX_DATA_BYTES) at('/data', 'is larger than 256 KiB serialised');
  if (errors.length > 0) return { ok: false, errors };
  const to = body.to === undefined ? undefined : {
    ...(body.to.email !== undefined ? { email: canonicalEmail(body.to.email) } : {}),
    ...(body.to.externalId !== undefined ? { externalId: body.to.externalId } : {}),
  };
  return {
    ok: true,
    request: {
      templateId: body.templateId,
      ...(body.profileId !== undefined ? { profileId: body.profileId } : {}),
      ...(body.senderProfileId !== undefined ? { senderProfileId: body.senderProfileId } : {}),
      ...(from ? { from } : {}),
      ...(replyTo ? { replyTo } : {}),
      ...(body.subject !== undefined ? { subject: body.subject } : {}),
      ...(body.subscriptionGroupId !== undefined ? { subscriptionGroupId: body.subscriptionGroupId } : {}),
      ...(to ? { to } : {}),
      cc,
      bcc,
      data,
      trackClicks: body.tracking?.clicks ?? false,
    },
  };
}

/** Splits "a@x.com, Name <b@y.com>" on commas outside quotes and angle brackets. */
function splitAddresses(value: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === '<' && !quoted) angle = true;
    else if (ch === '>' && !quoted) angle = false;
    if (ch === ',' && !quoted && !angle) {
      if (current.trim() !== '') out.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim() !== '') out.push(current.trim());
  return out;
}

let batchItemValidator: ValidateFunction | null = null;

export function registerEmailRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps, idempotency } = ctx;
  const db = deps.db.kysely;
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const sendDeps = { clock: deps.clock, ids: deps.ids, secret: deps.secret, publicUrl: deps.config.publicUrl };

  /** One send as a stored outcome: 202 with the EmailSend, or the error envelope. */
  const sendOutcome = (organizationId: string, request: SendRequest) => async (trx: Parameters<Parameters<typeof deps.committer.run>[0]>[0]): Promise<Outcome> => {
    const result = await createEmailSend(trx, sendDeps, organizationId, request, { source: 'api', requireTransactional: true });
    if (!result.ok) return errorOutcome(domainHttpError(result.error));
    return { status: 202, body: result.value, profileId: result.value.profileId };
  };

  typed.post(
    '/api/v1/emails',
    {
      schema: { tags: TAGS, summary: 'Send a template-backed email (emails.send)', body: SendEmailBody, response: { 202: EmailSendSchema, ...ErrorResponses } },
      attachValidation: true,
      config: { scopes: ['emails:write'] },
    },
    async (request, reply) => {
      const { organizationId } = principalOf(request);
      const key = readIdempotencyKey(request, 'required');
      let invalid = request.validationError ? toHttpError(request.validationError) : null;
      const parsed = invalid === null ? toSendRequest(request.body) : null;
      if (parsed && !parsed.ok) invalid = validationError(parsed.errors);
      return idempotency.respond(reply, { organizationId, key, fingerprint: () => requestFingerprint('POST', request.url, request.body) }, async (trx) => {
        if (invalid !== null || !parsed?.ok) return errorOutcome(invalid!);
        return sendOutcome(organizationId, parsed.request)(trx);
      });
    },
  );

  typed.post(
    '/api/v1/emails/batch',
    {
      schema: { tags: TAGS, summary: 'Send up to 100 emails, each with its own idempotencyKey', body: BatchBody, response: { 200: BatchResultSchema, ...ErrorResponses } },
      config: { scopes: ['emails:write'] },
    },
    async (request, reply) => {
      const { organizationId } = principalOf(request);
      batchItemValidator ??= bodyAjv.compile(BatchItem);
      const validate = batchItemValidator;
      const defaults = request.body.defaults ?? {};
      const items: Record<string, unknown>[] = [];
      let accepted = 0;
      for (const [index, raw] of request.body.items.entries()) {
        // Defaults apply before item validation; a field present in the item wins.
        const effective: Record<string, unknown> = { ...Object.fromEntries(Object.entries(defaults).filter(([, v]) => v !== null)), ...raw };
        const { idempotencyKey: rawKey, ...body } = effective;
        const key = typeof rawKey === 'string' && isValidIdempotencyKey(rawKey) ? rawKey : null;
        const prefix = `/items/${index}`;
        // Checked exactly as the single route checks its body, pointers relative to the item, so
        // the stored outcome is the one `POST /api/v1/emails` with this key would replay.
        let invalid = validate(effective) ? null : validationError(fieldErrorsFromAjv(validate.errors ?? [], 'body'));
        const parsed = invalid === null ? toSendRequest(body as SendEmailBody) : null;
        if (parsed && !parsed.ok) invalid = validationError(parsed.errors);
        if (key === null) {
          // Without a usable key nothing can be stored; the schema error names /idempotencyKey.
          items.push({ index, idempotencyKey: typeof rawKey === 'string' ? rawKey : null, error: withPointerPrefix(invalid!.envelope(), prefix) });
          continue;
        }
        try {
          const outcome = await idempotency.execute(
            { organizationId, key, fingerprint: () => requestFingerprint('POST', '/api/v1/emails', body) },
            async (trx) => (invalid !== null || !parsed?.ok ? errorOutcome(invalid!) : sendOutcome(organizationId, parsed.request)(trx)),
          );
          const payload = JSON.parse(outcome.payload) as Record<string, unknown>;
          if (outcome.status === 202) {
            accepted++;
            items.push({ index, idempotencyKey: key, send: payload });
          } else items.push({ index, idempotencyKey: key, error: withPointerPrefix(payload, prefix) });
        } catch (error) {
          const known = toHttpError(error);
          if (!known) throw error;
          items.push({ index, idempotencyKey: key, error: known.envelope() });
        }
      }
      const total = request.body.items.length;
      // Sent as a string so the 200 schema only documents the answer: serialising through it would
      // re-filter `send` and `error`, which are the stored outcomes replayed verbatim.
      return reply.type('application/json; charset=utf-8').send(JSON.stringify({ total, accepted, rejected: total - accepted, items }));
    },
  );

  typed.get(
    '/api/v1/emails/:id',
    { schema: { tags: TAGS, summary: 'Retrieve an EmailSend', params: EmailIdParams, response: { 200: EmailSendSchema, ...ErrorResponses } }, config: { scopes: ['emails:read'] } },
    async (request) => {
      const row = await selectEmailSend(db, principalOf(request).organizationId, request.params.id.toLowerCase());
      if (!row) throw new HttpError('not_found', 'Email not found.');
      return toEmailSendView(row);
    },
  );

  typed.get(
    '/api/v1/emails',
    {
      schema: {
        tags: TAGS,
        summary: 'List EmailSends, newest first',
        querystring: ListEmailsQuery,
        response: { 200: Type.Object({ data: Type.Array(EmailSendSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...ErrorResponses },
      },
      config: { scopes: ['emails:read'] },
    },
    async (request) => {
      const { organizationId } = principalOf(request);
      const q = request.query;
      const scope = `${organizationId}:emails`;
      const beforeId = pageStart(ctx.cursorSecret, scope, q.cursor);
      const limit = q.limit ?? 50;
      const rows = await selectEmailSendsPage(
        db,
        organizationId,
        {
          ...(q.status !== undefined ? { status: q.status } : {}),
          ...(q.profileId !== undefined ? { profileId: q.profileId.toLowerCase() } : {}),
          ...(q.templateId !== undefined ? { templateId: q.templateId.toLowerCase() } : {}),
          ...(q.journeyRunId !== undefined ? { journeyRunId: q.journeyRunId.toLowerCase() } : {}),
          ...(q.broadcastId !== undefined ? { broadcastId: q.broadcastId.toLowerCase() } : {}),
          ...(q.since !== undefined ? { since: parseDateTime(q.since)! } : {}),
          ...(q.until !== undefined ? { until: parseDateTime(q.until)! } : {}),
        },
        { limit: limit + 1, beforeId },
      );
      return pageOf(rows, limit, { secret: ctx.cursorSecret, scope, idOf: (row) => row.id }, toEmailSendView);
    },
  );

  typed.get(
    '/api/v1/emails/:id/message',
    {
      schema: {
        tags: TAGS,
        summary: 'The captured message (capture transport only); Accept: message/rfc822 for the raw MIME',
        params: EmailIdParams,
        // Both forms are sent as strings, so these schemas document the answer and serialise nothing.
        response: {
          200: {
            description: 'The captured message: JSON, or the raw MIME when Accept names message/rfc822.',
            content: { 'application/json': { schema: CapturedMessageSchema }, 'message/rfc822': { schema: Type.String() } },
          },
          ...ErrorResponses,
        },
      },
      config: { scopes: ['emails:read'] },
    },
    async (request, reply) => {
      const notFound = new HttpError('not_found', 'No captured message for this email.');
      if (deps.config.mailTransport !== 'capture') throw notFound;
      const { organizationId } = principalOf(request);
      const captured = await getCapturedMessage(deps.db, organizationId, request.params.id.toLowerCase());
      if (!captured) throw notFound;
      if ((request.headers.accept ?? '').includes('message/rfc822')) return reply.type('message/rfc822').send(captured.raw);
      const parsed = await simpleParser(captured.raw);
      const text = (v: unknown) => (typeof v === 'string' ? v : null);
      return reply.type('application/json; charset=utf-8').send(
        JSON.stringify({
          emailSendId: captured.email_send_id,
          messageIdHeader: captured.message_id_header,
          capturedAt: new Date(captured.captured_at).toISOString(),
          handoffCount: captured.handoff_count,
          // Names as written in the message (mailparser's `key` is lower-cased), values unfolded.
          headers: parsed.headerLines.map((h) => {
            const colon = h.line.indexOf(':');
            return [h.line.slice(0, colon).trim(), h.line.slice(colon + 1).replace(/\r?\n[ \t]+/g, ' ').trim()];
          }),
          subject: parsed.subject ?? '',
          from: parsed.from?.text ?? '',
          to: Array.isArray(parsed.to) ? parsed.to.map((a) => a.text).join(', ') : (parsed.to?.text ?? ''),
          cc: Array.isArray(parsed.cc) ? parsed.cc.map((a) => a.text).join(', ') : (parsed.cc?.text ?? ''),
          html: text(parsed.html) ?? '',
          text: parsed.text ?? '',
          raw: captured.raw,
        }),
      );
    },
  );
}

/** An error envelope whose field pointers (item-relative, as stored) are made relative to the batch body. */
function withPointerPrefix(envelope: { details?: unknown }, prefix: string): Record<string, unknown> {
  const details = envelope.details as { errors?: unknown } | undefined;
  if (!details || !Array.isArray(details.errors)) return envelope;
  const errors = (details.errors as Record<string, unknown>[]).map((e) => (typeof e.pointer === 'string' ? { ...e, pointer: prefix + e.pointer } : e));
  return { ...envelope, details: { ...details, errors } };
}
