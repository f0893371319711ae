/**
 * String patterns shared by the route schemas, with the message a client sees when a value does
 * not match one (instead of ajv's `must match pattern "<regex>"`).
 */
import { UUID_PATTERN } from '../lib/ids.js';

/** No C0 control characters and no DEL (identifiers, names). */
export const NO_CONTROL_CHARS = '^[^\\u0000-\\u001F\\u007F]+$';
/** No CR, LF or NUL (anything that may end up in a mail header). */
export const NO_CR_LF_NUL = '^[^\\r\\n\\u0000]*$';
/** Printable ASCII (idempotency keys). */
export const PRINTABLE_ASCII = '^[\\x20-\\x7e]+$';

export const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [UUID_PATTERN]: 'must be a UUID',
  [NO_CONTROL_CHARS]: 'must not contain control characters',
  [NO_CR_LF_NUL]: 'must not contain CR, LF or NUL characters',
  [PRINTABLE_ASCII]: 'must contain printable ASCII characters only',
};
