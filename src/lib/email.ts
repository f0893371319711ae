/**
 * Email address rules (conventions.md §6): WHATWG-valid addresses, their canonical form, and
 * friendly addresses (`Name <email>`, `"Name, Inc." <email>`, `Name email`, `email`).
 */

const WHATWG_EMAIL =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** Trimmed, WHATWG-valid, ≤ 254 characters, local part ≤ 64. */
export function isValidEmail(raw: string): boolean {
  const email = raw.trim();
  if (email.length > 254 || !WHATWG_EMAIL.test(email)) return false;
  return email.indexOf('@') <= 64;
}

export function canonicalEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

export interface FriendlyAddress {
  email: string;
  name: string | null;
}

/** Parses a friendly address; null when it is not one of the accepted forms or has CR/LF/NUL. */
export function parseFriendlyAddress(raw: string): FriendlyAddress | null {
  if (raw.length < 1 || raw.length > 320 || /[\r\n\u0000]/.test(raw)) return null;
  const value = raw.trim();
  const angle = /^(.*?)\s*<([^<>]+)>$/.exec(value);
  if (angle) {
    let name = angle[1]!.trim();
    if (name.startsWith('"') && name.endsWith('"') && name.length >= 2) name = name.slice(1, -1).replace(/\\(.)/g, '$1');
    const email = angle[2]!.trim();
    return isValidEmail(email) ? { email, name: name === '' ? null : name } : null;
  }
  if (isValidEmail(value)) return { email: value, name: null };
  const lastSpace = value.lastIndexOf(' ');
  if (lastSpace > 0) {
    const email = value.slice(lastSpace + 1);
    const name = value.slice(0, lastSpace).trim();
    if (isValidEmail(email)) return { email, name: name === '' ? null : name };
  }
  return null;
}
