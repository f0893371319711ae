/**
 * The public links of emails.md §9: unsubscribe, preferences and click tracking. No API key (the
 * signed token is the credential), no cookies, no CSRF token: mail clients POST the RFC 8058
 * one-click body without any session. Answers are small HTML pages; a bad token is a 400 page, or
 * the `invalid_token` envelope for clients that prefer JSON.
 *
 * The routes live in their own encapsulated plugin because they read form bodies (urlencoded or
 * multipart) that the JSON API refuses. Tokens are a few hundred characters: the app raises the
 * router's limit for named parameters (`maxParamLength`) well above that.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { HttpError } from '../../http/errors.js';
import type { RouteContext } from '../../http/route-context.js';
import { parseFormFields, prefersJson } from './form-body.js';
import { preferencesToken, readPublicLink, type LinkKind, type PublicLink } from './link-tokens.js';
import { invalidLinkPage, noPreferencesPage, preferencesPage, unsubscribeConfirmPage, unsubscribedPage } from './pages.js';
import { readPreferences, recordClick, savePreferences, unsubscribeByLink, unsubscribeGroupName } from './public-links.service.js';

/** Forms here hold a few fields; nothing legitimate comes close. */
const FORM_BODY_LIMIT = 64 * 1024;

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  // The token in the URL must not leak to other sites.
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

const TokenParams = Type.Object({ token: Type.String({ maxLength: 2048, description: 'The signed token from the email (emails.md §9).' }) });

/**
 * The answers, for the OpenAPI document only: pages are sent as strings and redirects without a
 * body, so no response schema serialises anything. A bad token is a 400 page, or the
 * `invalid_token` envelope (serialised as on every route) when the client prefers JSON.
 */
const Html = { 'text/html': { schema: Type.String() } };
const BadToken = {
  description: 'invalid_token: the link is malformed, was altered, or is not a link of this kind.',
  content: { ...Html, 'application/json': { schema: Type.Ref('ErrorEnvelope') } },
};
const PageResponses = { 200: { description: 'HTML page', content: Html }, 400: BadToken };
const RedirectResponses = {
  302: { description: 'Redirect to the http(s) URL signed into the token', type: 'null', headers: { location: Type.String() } },
  400: BadToken,
};

const common = (summary: string, description: string, response: object = PageResponses) => ({
  tags: ['public links'],
  summary,
  description,
  params: TokenParams,
  security: [],
  response,
});

function sendPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(html);
}

export function registerPublicLinkRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { deps } = ctx;
  const db = deps.db.kysely;

  /** The verified link of the expected kind, or null after answering 400. */
  function linkOf(request: FastifyRequest, reply: FastifyReply, kind: LinkKind): PublicLink | null {
    const token = (request.params as { token: string }).token;
    const link = readPublicLink(deps.secret, token, kind);
    if (link !== null) return link;
    if (prefersJson(request.headers.accept)) throw new HttpError('invalid_token', 'The link is malformed, was altered, or is not a link of this kind.');
    void sendPage(reply, 400, invalidLinkPage());
    return null;
  }

  // Relative to /unsubscribe/<token>, so it also works behind a path prefix.
  const preferencesPathFor = (link: PublicLink) => `../preferences/${preferencesToken(deps.secret, link)}`;

  void app.register(async (scope) => {
    // Every body is read as bytes and interpreted by the handler: the one-click POST must succeed
    // whatever a mail client sends, and "any other body" is simply not the one-click body.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: FORM_BODY_LIMIT }, (_request, body, done) => done(null, body));
    const typed = scope.withTypeProvider<TypeBoxTypeProvider>();

    typed.get(
      '/unsubscribe/:token',
      {
        schema: common('Unsubscribe page (changes nothing)', 'HTML page naming the SubscriptionGroup with a confirm button that POSTs to the same URL. A GET never changes anything, because link scanners follow links. 400 for a forged or malformed token (HTML, or the invalid_token envelope when JSON is preferred).'),
        config: { public: true },
      },
      async (request, reply) => {
        const link = linkOf(request, reply, 'u');
        if (link === null) return reply;
        return sendPage(reply, 200, unsubscribeConfirmPage(await unsubscribeGroupName(db, link), preferencesPathFor(link)));
      },
    );

    typed.post(
      '/unsubscribe/:token',
      {
        schema: common(
          'Unsubscribe (RFC 8058 one-click or confirm button)',
          'Unsubscribes the Profile from the group immediately and idempotently. The body `List-Unsubscribe=One-Click` (application/x-www-form-urlencoded or multipart/form-data) records source `one_click`; any other body `unsubscribe_link`. No cookies, no CSRF token. 200 HTML confirmation, also when the Profile was erased.',
        ),
        config: { public: true },
      },
      async (request, reply) => {
        const link = linkOf(request, reply, 'u');
        if (link === null) return reply;
        const fields = parseFormFields(request.headers['content-type'], request.body as Buffer | undefined);
        const oneClick = fields.some(([name, value]) => name === 'List-Unsubscribe' && value.trim() === 'One-Click');
        const { groupName } = await deps.committer.run((trx) => unsubscribeByLink(trx, deps, link, oneClick ? 'one_click' : 'unsubscribe_link'));
        return sendPage(reply, 200, unsubscribedPage(groupName, preferencesPathFor(link)));
      },
    );

    typed.get(
      '/preferences/:token',
      {
        schema: common('Email preferences page', "HTML form with every SubscriptionGroup of the organization as a checkbox showing the Profile's effective status. Changes nothing."),
        config: { public: true },
      },
      async (request, reply) => {
        const link = linkOf(request, reply, 'p');
        if (link === null) return reply;
        const items = await readPreferences(db, link);
        return sendPage(reply, 200, items === null ? noPreferencesPage() : preferencesPage(items, false));
      },
    );

    typed.post(
      '/preferences/:token',
      {
        schema: common(
          'Save email preferences',
          'Form body (urlencoded or multipart) with `group=<subscriptionGroupId>` repeated for each checked group: checked groups become subscribed, all others unsubscribed (source `preferences_page`). 200 HTML page with the saved state.',
        ),
        config: { public: true },
      },
      async (request, reply) => {
        const link = linkOf(request, reply, 'p');
        if (link === null) return reply;
        const fields = parseFormFields(request.headers['content-type'], request.body as Buffer | undefined);
        const checked = new Set(fields.filter(([name]) => name === 'group').map(([, value]) => value.trim().toLowerCase()));
        const items = await deps.committer.run((trx) => savePreferences(trx, deps, link, checked));
        return sendPage(reply, 200, items === null ? noPreferencesPage() : preferencesPage(items, true));
      },
    );

    typed.get(
      '/c/:token',
      {
        schema: common(
          'Tracked link (click)',
          'Records the UserEvent `email.clicked` (source `system`, data `{emailSendId, url}`) at most once per send and URL per minute, then redirects (302) to the http(s) URL signed into the token.',
          RedirectResponses,
        ),
        config: { public: true },
      },
      async (request, reply) => {
        const link = linkOf(request, reply, 'c');
        if (link === null) return reply;
        // HEAD (link checkers) follows the redirect without counting as a click.
        if (request.method === 'GET') await deps.committer.run((trx) => recordClick(trx, deps, link));
        return reply.headers({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).redirect(link.url!, 302);
      },
    );
  });
}
