/**
 * First start (cli.md §3): on a database without organizations, create — once, even when several
 * processes start together — the `default` organization, a `bootstrap` API key with every scope
 * (its secret is SEGMENTFLOW_BOOTSTRAP_API_KEY when set), the instance secret, in capture mode
 * the dev domain and sender, and the starter templates (published when complete). The
 * claim row in instance_settings is what makes it happen exactly once.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../../db/connect.js';
import type { Clock } from '../../lib/clock.js';
import type { IdGenerator } from '../../lib/ids.js';
import { err, ok, type Result } from '../../lib/result.js';
import { createApiKey } from '../api-keys/api-keys.service.js';
import { SCOPES } from '../api-keys/scopes.js';
import { hasPlausibleChecksum } from '../api-keys/secrets.js';
import { createDevSender } from '../senders/senders.service.js';
import { STARTER_TEMPLATES } from '../templates/starters.js';
import { importTemplate } from '../templates/templates.import.js';
import { publishTemplate } from '../templates/templates.service.js';
import { claimSetting, countOrganizations, insertOrganization } from './orgs.store.js';

export interface BootstrapResult {
  /** Set only on the start that created the organization: the secret to print once. */
  bootstrapApiKey: string | null;
  organizationId: string | null;
  /** The instance secret: SEGMENTFLOW_SECRET when configured, else the stored one. */
  secret: string;
}

/**
 * The bootstrap key would be created with a secret shaped like a generated key (`sk_live_…`) whose
 * checksum is wrong: such values are refused without a lookup (conventions.md §2.1), so it could
 * never authenticate. Only on a database still to be bootstrapped: elsewhere the value is ignored.
 */
export type BootstrapError = { type: 'bootstrap_key_not_generated' };

export async function bootstrapInstance(
  db: Db,
  deps: { clock: Clock; ids: IdGenerator },
  options: { bootstrapApiKey: string | null; configuredSecret: string | null; mailTransport: 'capture' | 'smtp' },
): Promise<Result<BootstrapResult, BootstrapError>> {
  return db.kysely.transaction().execute(async (trx) => {
    // Checked before anything is written, so a refused start leaves the database as it was.
    if (options.bootstrapApiKey !== null && !hasPlausibleChecksum(options.bootstrapApiKey) && (await countOrganizations(trx)) === 0) {
      return err({ type: 'bootstrap_key_not_generated' });
    }
    const stored = await claimSetting(trx, 'instance_secret', randomBytes(32).toString('base64url'));
    const secret = options.configuredSecret ?? stored.value;
    const claim = await claimSetting(trx, 'bootstrapped_at', String(deps.clock.now()));
    if (!claim.created || (await countOrganizations(trx)) > 0) return ok({ bootstrapApiKey: null, organizationId: null, secret });
    const organizationId = deps.ids();
    await insertOrganization(trx, { id: organizationId, name: 'default', created_at: deps.clock.now(), delivery_webhook_secret: null });
    const { key } = await createApiKey(trx, deps, {
      organizationId,
      label: 'bootstrap',
      scopes: SCOPES,
      ...(options.bootstrapApiKey !== null ? { secret: options.bootstrapApiKey } : {}),
    });
    // With real SMTP the user adds a real domain; capture mode can send from a dev domain at once.
    if (options.mailTransport === 'capture') await createDevSender(trx, deps, organizationId);
    for (const starter of Object.values(STARTER_TEMPLATES)) {
      // Published when complete, i.e. when a sender exists (capture mode).
      const imported = await importTemplate(trx, deps, organizationId, starter, { publish: false, source: 'starter' });
      if (!imported.ok) throw new Error(`starter template ${starter.name} is invalid: ${JSON.stringify(imported.error)}`);
      if (imported.value.template.isComplete) await publishTemplate(trx, deps, organizationId, imported.value.template.id);
    }
    return ok({ bootstrapApiKey: key, organizationId, secret });
  });
}
