/**
 * The signed public-link tokens of emails.md §9, read back into typed links. The signature is
 * checked by lib/signed-token; here the payload is checked for shape and for the kind the route
 * expects (a preferences token is not an unsubscribe token), and click links must lead to http(s).
 * Click links are created here too, so the emails module can rewrite links with `clickLink()`.
 */
import { signToken, verifyToken } from '../../lib/signed-token.js';
import { isUuid } from '../../lib/ids.js';

/** `u`: unsubscribe from one group, `p`: preferences page, `c`: click redirect. */
export type LinkKind = 'u' | 'p' | 'c';

export interface PublicLink {
  kind: LinkKind;
  organizationId: string;
  /** Null when the send had no Profile (nothing to change). */
  profileId: string | null;
  /** Always set on unsubscribe links. */
  subscriptionGroupId: string | null;
  emailSendId: string | null;
  /** Click links only: the http(s) destination. */
  url: string | null;
}

const MAX_URL_LENGTH = 2048;

function optionalUuid(value: unknown): string | null | undefined {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' && isUuid(value) ? value.toLowerCase() : undefined;
}

/** The normalised http(s) URL (WHATWG `href`: no raw control characters, safe as a Location header), or null. */
export function safeRedirectUrl(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > MAX_URL_LENGTH) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  return url.href;
}

/** The link a token stands for, or null when it is forged, malformed, or of another kind. */
export function readPublicLink(secret: string, token: string, kind: LinkKind): PublicLink | null {
  const payload = verifyToken(secret, token);
  if (payload === null || payload.v !== 1 || payload.k !== kind) return null;
  const organizationId = optionalUuid(payload.o);
  const profileId = optionalUuid(payload.p);
  const subscriptionGroupId = optionalUuid(payload.g);
  const emailSendId = optionalUuid(payload.s);
  if (!organizationId || profileId === undefined || subscriptionGroupId === undefined || emailSendId === undefined) return null;
  if (kind === 'u' && subscriptionGroupId === null) return null;
  let url: string | null = null;
  if (kind === 'c') {
    url = safeRedirectUrl(payload.url);
    if (url === null || emailSendId === null) return null;
  }
  return { kind, organizationId, profileId, subscriptionGroupId, emailSendId, url };
}

/** `${publicUrl}/c/<token>`: a tracked link to `url` (which must be http(s)) for one send. */
export function clickLink(
  publicUrl: string,
  secret: string,
  ctx: { organizationId: string; profileId: string | null; subscriptionGroupId: string | null; emailSendId: string },
  url: string,
): string {
  if (safeRedirectUrl(url) === null) throw new Error('clickLink() needs an http(s) URL of at most 2048 characters');
  const payload = { v: 1, o: ctx.organizationId, p: ctx.profileId, g: ctx.subscriptionGroupId, s: ctx.emailSendId, k: 'c', url };
  return `${publicUrl}/c/${signToken(secret, payload)}`;
}

/** The preferences token for the same send and Profile as `link` (offered on the unsubscribe pages). */
export function preferencesToken(secret: string, link: PublicLink): string {
  return signToken(secret, { v: 1, o: link.organizationId, p: link.profileId, g: link.subscriptionGroupId, s: link.emailSendId, k: 'p' });
}
