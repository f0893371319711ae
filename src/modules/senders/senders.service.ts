/**
 * Sending identities. For now only what first start needs (cli.md §3): in capture mode the
 * default organization gets the verified development domain `example.test` and the default
 * SenderProfile `Segmentflow <hello@example.test>`. The Domains and SenderProfiles API arrives
 * with the emails module.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import type { Clock } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import { insertDomain, insertSenderProfile } from './senders.store.js';

export const DEV_DOMAIN = 'example.test';
export const DEV_SENDER = { name: 'Segmentflow', email: 'hello@example.test' };

export async function createDevSender(db: Kysely<Database>, deps: { clock: Clock; ids: IdGenerator }, organizationId: string): Promise<void> {
  const now = deps.clock.now();
  const domainId = deps.ids();
  await insertDomain(db, {
    id: domainId,
    organization_id: organizationId,
    name: DEV_DOMAIN,
    verification_token: randomBytes(16).toString('hex'),
    verified_at: now,
    created_at: now,
    updated_at: now,
  });
  await insertSenderProfile(db, {
    id: deps.ids(),
    organization_id: organizationId,
    domain_id: domainId,
    name: DEV_SENDER.name,
    email: DEV_SENDER.email,
    reply_to: null,
    is_default: 1,
    created_at: now,
    updated_at: now,
  });
}
