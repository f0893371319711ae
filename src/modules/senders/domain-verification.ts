/**
 * Domain ownership check (emails.md §8.1): the TXT record `_segmentflow.<domain>` must hold
 * `segmentflow-verification=<token>`. The lookup is a plain function on Deps so tests (and
 * machines without DNS) can answer it; the system one uses node:dns with a short timeout so a
 * request never waits long on an unreachable resolver.
 */
import { Resolver } from 'node:dns/promises';

/** Resolves the TXT records of a host name: one array of chunks per record, like dns.resolveTxt. */
export type TxtResolver = (hostname: string) => Promise<string[][]>;

export const systemTxtResolver: TxtResolver = (hostname) => {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  return resolver.resolveTxt(hostname);
};

export const VERIFICATION_PREFIX = '_segmentflow.';
export const VERIFICATION_VALUE_PREFIX = 'segmentflow-verification=';

export function verificationRecord(domain: string, token: string): { type: 'TXT'; name: string; value: string } {
  return { type: 'TXT', name: `${VERIFICATION_PREFIX}${domain}`, value: `${VERIFICATION_VALUE_PREFIX}${token}` };
}

const DNS_ERRORS: Record<string, string> = {
  ENOTFOUND: 'no TXT record found',
  ENODATA: 'no TXT record found',
  ETIMEOUT: 'DNS lookup timed out',
  ECONNREFUSED: 'DNS server unreachable',
  ESERVFAIL: 'DNS server failure',
  EREFUSED: 'DNS query refused',
};

/** Looks the record up; on failure, a short human-readable reason (stored as `lastError`). */
export async function checkVerificationRecord(resolveTxt: TxtResolver, domain: string, token: string): Promise<{ verified: true } | { verified: false; error: string }> {
  const { name, value } = verificationRecord(domain, token);
  let records: string[][];
  try {
    records = await resolveTxt(name);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = typeof code === 'string' ? (DNS_ERRORS[code] ?? `DNS lookup failed (${code})`) : 'DNS lookup failed';
    return { verified: false, error: `${reason} for ${name}` };
  }
  // A long TXT value may arrive split into several character-strings: join them.
  if (records.some((chunks) => chunks.join('').trim() === value)) return { verified: true };
  return { verified: false, error: `${name} has no TXT record with the value ${value}` };
}
