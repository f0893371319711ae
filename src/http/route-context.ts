/** What every routes module receives: the dependencies and the shared HTTP mechanisms. */
import type { Deps } from '../deps.js';
import type { ApiKeyAuthenticator } from '../modules/api-keys/api-keys.service.js';
import type { IdempotencyGate } from './idempotency.js';

export interface RouteContext {
  deps: Deps;
  idempotency: IdempotencyGate;
  authenticator: ApiKeyAuthenticator;
  /** Signs pagination cursors. */
  cursorSecret: string;
}
