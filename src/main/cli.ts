/**
 * The `segmentflow` command (cli.md). Entry point only: parses arguments and the environment,
 * opens the database, calls services, prints. Exit codes: 0 success, 1 runtime error, 2 usage
 * or configuration error.
 */
import { readFileSync } from 'node:fs';
import type { ValidateFunction } from 'ajv';
import { Command, CommanderError, Option } from 'commander';
import { parseConfig, type Config } from '../config.js';
import { connectDatabase, type Db } from '../db/connect.js';
import { migrateToLatest } from '../db/migrate.js';
import { bodyAjv, fieldErrorsFromAjv } from '../http/validation.js';
import { parseDateTime } from '../lib/date-time.js';
import { systemClock } from '../lib/clock.js';
import { uuidV7 } from '../lib/ids.js';
import { apiKeyOrganization, createApiKey, listApiKeys, revokeApiKey } from '../modules/api-keys/api-keys.service.js';
import { isScope, SCOPES, type Scope } from '../modules/api-keys/scopes.js';
import { isValidEmail } from '../lib/email.js';
import { systemTxtResolver } from '../modules/senders/domain-verification.js';
import { createDomain, createSenderProfile, findDomainByName, verifyDomain, type DomainView, type SenderError } from '../modules/senders/senders.service.js';
import { createOrganization, findOrganization, listOrganizations, type Organization } from '../modules/orgs/orgs.service.js';
import { STARTER_TEMPLATES, type StarterName, type TemplateFile } from '../modules/templates/starters.js';
import { importTemplate } from '../modules/templates/templates.import.js';
import type { TemplateError } from '../modules/templates/templates.service.js';
import { CreateTemplateBody } from '../modules/templates/templates.schema.js';
import { applyJourney, type JourneyFile } from '../modules/journeys/journeys.apply.js';
import { JOURNEY_KEY_PATTERN } from '../modules/journeys/journeys.schema.js';
import { RESERVED_KEYS, type JourneyError } from '../modules/journeys/journeys.service.js';
import { journeyRunControl } from '../modules/journeys/runs/lifecycle.js';
import { serve, type Role } from './serve.js';

class UsageError extends Error {}

function loadConfig(): Config {
  const parsed = parseConfig(process.env);
  if (parsed.ok) return parsed.value;
  const lines = parsed.error.map((p) => `  ${p.variable}: ${p.message}`);
  throw new UsageError(`Invalid configuration:\n${lines.join('\n')}`);
}

/** Opens the database, applies migrations, runs `fn`, closes. */
async function withDatabase<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const db = connectDatabase(loadConfig().database);
  try {
    await migrateToLatest(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function resolveOrg(db: Db, ref: string | undefined): Promise<Organization> {
  const found = await findOrganization(db.kysely, ref);
  if (found.ok) return found.value;
  switch (found.error.type) {
    case 'none':
      throw new UsageError('No organization exists yet: run `segmentflow serve` once or `segmentflow orgs create <name>`.');
    case 'ambiguous':
      throw new UsageError(`Several organizations exist; pass --org <id|name>:\n${found.error.organizations.map((o) => `  ${o.id}  ${o.name}`).join('\n')}`);
    case 'not_found':
      throw new UsageError(`No organization with id or name ${JSON.stringify(found.error.ref)}.`);
  }
}

function parseScopes(raw: string): Scope[] {
  if (raw.trim() === 'all') return [...SCOPES];
  const scopes = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length > 0) throw new UsageError(`Unknown scope${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}. Known scopes: ${SCOPES.join(', ')}, or all.`);
  if (scopes.length === 0) throw new UsageError('--scopes needs at least one scope.');
  return scopes as Scope[];
}

const print = (line: string) => process.stdout.write(line + '\n');
const deps = { clock: systemClock, ids: uuidV7 };

export function buildCli(): Command {
  const program = new Command('segmentflow').description('Self-hosted customer engagement platform (Segmentflow v1 API)').version('0.1.0');
  program.exitOverride();

  program
    .command('serve')
    .description('run the HTTP API and the background worker')
    .addOption(new Option('--role <role>', 'api, worker or all').choices(['api', 'worker', 'all']).default('all'))
    .option('--port <port>', 'HTTP port (overrides PORT)')
    .option('--host <host>', 'listen address (overrides HOST)')
    .action(async (opts: { role: Role; port?: string; host?: string }) => {
      const env = { ...process.env, ...(opts.port !== undefined ? { PORT: opts.port } : {}), ...(opts.host !== undefined ? { HOST: opts.host } : {}) };
      const parsed = parseConfig(env);
      if (!parsed.ok) throw new UsageError(`Invalid configuration:\n${parsed.error.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
      const served = await serve(parsed.value, opts.role);
      if (!served.ok) throw new UsageError(`Invalid configuration:\n  ${served.error.variable}: ${served.error.message}`);
    });

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      const db = connectDatabase(loadConfig().database);
      try {
        const results = await migrateToLatest(db);
        if (results.length === 0) print('Database is up to date.');
        for (const r of results) print(`${r.status === 'Success' ? 'applied' : r.status.toLowerCase()} ${r.migrationName}`);
      } finally {
        await db.close();
      }
    });

  const orgs = program.command('orgs').description('manage organizations');
  orgs
    .command('create <name>')
    .description('create an organization')
    .option('--json', 'print one JSON line')
    .action(async (name: string, opts: { json?: boolean }) => {
      await withDatabase(async (db) => {
        const created = await createOrganization(db.kysely, deps, name);
        if (!created.ok) {
          throw new UsageError(created.error.type === 'already_exists' ? `An organization named ${JSON.stringify(created.error.name)} already exists.` : 'Organization names are 1–200 characters without control characters.');
        }
        print(opts.json ? JSON.stringify({ id: created.value.id, name: created.value.name }) : `Created organization ${created.value.name} (${created.value.id})`);
      });
    });
  orgs
    .command('list')
    .description('list organizations')
    .option('--json', 'print one JSON line')
    .action(async (opts: { json?: boolean }) => {
      await withDatabase(async (db) => {
        const all = await listOrganizations(db.kysely);
        if (opts.json) print(JSON.stringify(all.map((o) => ({ id: o.id, name: o.name }))));
        else for (const o of all) print(`${o.id}  ${o.name}`);
      });
    });

  const keys = program.command('api-keys').description('manage API keys');
  keys
    .command('create')
    .description('create an API key and print its secret once')
    .requiredOption('--scopes <scopes>', 'comma-separated scopes, or all')
    .option('--org <org>', 'organization id or name (default: the only one)')
    .option('--label <label>', 'label', 'cli')
    .option('--expires <dateTime>', 'expiry (ISO-8601 date-time)')
    .option('--json', 'print one JSON line')
    .action(async (opts: { scopes: string; org?: string; label: string; expires?: string; json?: boolean }) => {
      const scopes = parseScopes(opts.scopes);
      const expiresAt = opts.expires === undefined ? null : parseDateTime(opts.expires);
      if (opts.expires !== undefined && expiresAt === null) throw new UsageError('--expires must be an ISO-8601 date-time with a zone, e.g. 2027-01-01T00:00:00Z.');
      if (expiresAt !== null && expiresAt <= systemClock.now()) throw new UsageError('--expires must be in the future.');
      if (opts.label.length < 1 || opts.label.length > 200) throw new UsageError('--label must be 1–200 characters.');
      await withDatabase(async (db) => {
        const org = await resolveOrg(db, opts.org);
        const { apiKey, key } = await createApiKey(db.kysely, deps, { organizationId: org.id, label: opts.label, scopes, expiresAt });
        if (opts.json) print(JSON.stringify({ id: apiKey.id, key, scopes: apiKey.scopes }));
        else print(`Created API key ${apiKey.id} for ${org.name} (scopes: ${apiKey.scopes.join(', ')})\nSecret (shown once): ${key}`);
      });
    });
  keys
    .command('list')
    .description('list API keys (never their secrets)')
    .option('--org <org>', 'organization id or name (default: the only one)')
    .option('--json', 'print one JSON line')
    .action(async (opts: { org?: string; json?: boolean }) => {
      await withDatabase(async (db) => {
        const org = await resolveOrg(db, opts.org);
        const all = await listApiKeys(db.kysely, org.id, { limit: 10_000, beforeId: null });
        if (opts.json) {
          print(JSON.stringify(all));
          return;
        }
        const now = systemClock.now();
        const state = (k: (typeof all)[number]) => (k.revokedAt ? 'revoked' : k.expiresAt !== null && Date.parse(k.expiresAt) <= now ? 'expired' : 'active');
        for (const k of all) print(`${k.id}  ${k.prefix}…${k.last4}  ${k.label}  ${state(k)}  ${k.scopes.join(',')}`);
      });
    });
  keys
    .command('revoke <id>')
    .description('revoke an API key; requests with it are 401 from then on')
    .option('--org <org>', 'only in this organization (id or name); key ids are unique, so it is optional')
    .action(async (id: string, opts: { org?: string }) => {
      await withDatabase(async (db) => {
        const organizationId = opts.org !== undefined ? (await resolveOrg(db, opts.org)).id : await apiKeyOrganization(db.kysely, id);
        if (organizationId === null || !(await revokeApiKey(db.kysely, deps, organizationId, id))) throw new UsageError(`No active API key ${id}.`);
        print(`Revoked API key ${id}`);
      });
    });
  program
    .command('templates')
    .description('manage templates')
    .command('import [file]')
    .description('create or update (by name) a template from a JSON file holding a Template create body, or a starter')
    .addOption(new Option('--starter <name>', 'a starter template').choices(Object.keys(STARTER_TEMPLATES)))
    .option('--org <org>', 'organization id or name (default: the only one)')
    .option('--publish', 'publish it after saving')
    .action(async (file: string | undefined, opts: { starter?: StarterName; org?: string; publish?: boolean }) => {
      if ((file === undefined) === (opts.starter === undefined)) throw new UsageError('Give either a file or --starter <name>.');
      const template = opts.starter !== undefined ? STARTER_TEMPLATES[opts.starter] : readTemplateFile(file!);
      await withDatabase(async (db) => {
        const org = await resolveOrg(db, opts.org);
        const result = await db.kysely.transaction().execute((trx) =>
          importTemplate(trx, deps, org.id, template, { publish: opts.publish === true, source: opts.starter !== undefined ? 'starter' : 'import' }),
        );
        if (!result.ok) throw new UsageError(describeTemplateError(result.error));
        const { action, template: saved, published } = result.value;
        print(`${action} template ${JSON.stringify(saved.name)} (${saved.id})${published ? `, published snapshot ${saved.currentSnapshotId}` : saved.isComplete ? '' : ' — incomplete, not publishable yet'}`);
      });
    });

  const domains = program.command('domains').description('manage sending domains');
  domains
    .command('add <domain>')
    .description('add a sending domain and print the DNS TXT record that verifies it')
    .option('--org <org>', 'organization id or name (default: the only one)')
    .action(async (name: string, opts: { org?: string }) => {
      await withDatabase(async (db) => {
        const org = await resolveOrg(db, opts.org);
        const existing = await findDomainByName(db.kysely, org.id, name);
        if (existing) {
          print(`Domain ${existing.name} already exists in ${org.name} (${existing.id}, ${existing.status}).`);
          print(describeRecord(existing));
          return;
        }
        const created = await db.kysely.transaction().execute((trx) => createDomain(trx, deps, org.id, name));
        if (!created.ok) throw new UsageError(describeSenderError(created.error));
        print(`Added domain ${created.value.name} to ${org.name} (${created.value.id}).`);
        print(describeRecord(created.value));
      });
    });
  domains
    .command('verify <domain>')
    .description('check the DNS TXT record of a domain (--trust: mark it verified without DNS, for local use)')
    .option('--org <org>', 'organization id or name (default: the only one)')
    .option('--trust', 'mark the domain verified without a DNS lookup')
    .action(async (name: string, opts: { org?: string; trust?: boolean }) => {
      await withDatabase(async (db) => {
        const org = await resolveOrg(db, opts.org);
        const domain = await findDomainByName(db.kysely, org.id, name);
        if (!domain) throw new UsageError(`No domain ${JSON.stringify(name)} in ${org.name}: add it with \`segmentflow domains add ${name}\`.`);
        const result = await verifyDomain(db.kysely, { ...deps, resolveTxt: systemTxtResolver }, org.id, domain.id, { trust: opts.trust === true });
        if (!result.ok) throw new UsageError(describeSenderError(result.error));
        if (result.value.status !== 'verified') {
          throw new Error(`domain ${result.value.name} is not verified: ${result.value.lastError ?? 'unknown error'}\n${describeRecord(result.value)}`);
        }
        print(`Domain ${result.value.name} verified${opts.trust === true ? ' (trusted without DNS)' : ''}.`);
      });
    });

  program
    .command('senders')
    .description('manage sender profiles')
    .command('create')
    .description('create a SenderProfile on a domain of the organization')
    .requiredOption('--email <email>', 'from-address; its domain must have been added')
    .requiredOption('--name <name>', 'display name (1–200 characters)')
    .option('--default', 'make it the default sender profile')
    .option('--org <org>', 'organization id or name (default: the only one)')
    .action(async (opts: { email: string; name: string; default?: boolean; org?: string }) => {
      if (!isValidEmail(opts.email)) throw new UsageError(`--email ${JSON.stringify(opts.email)} is not a valid email address.`);
      if (opts.name.length < 1 || opts.name.length > 200) throw new UsageError('--name must be 1–200 characters.');
      await withDatabase(async (db) => {
        const org = await resolveOrg(db, opts.org);
        const created = await db.kysely.transaction().execute((trx) =>
          createSenderProfile(trx, deps, org.id, { name: opts.name, email: opts.email, isDefault: opts.default === true }),
        );
        if (!created.ok) throw new UsageError(describeSenderError(created.error, opts.email));
        const s = created.value;
        print(`Created sender profile ${s.name} <${s.email}> (${s.id})${s.isDefault ? ', the default' : ''}${s.verified ? '' : ' — its domain is not verified yet'}`);
      });
    });
  program
    .command('journeys')
    .description('manage journeys')
    .command('apply <file>')
    .description('create or update (by key) a journey from a JSON file { key, name, description?, definition }')
    .option('--org <org>', 'organization id or name (default: the only one)')
    .option('--activate', 'activate it after saving')
    .action(async (path: string, opts: { org?: string; activate?: boolean }) => {
      const file = readJourneyFile(path);
      await withDatabase(async (db) => {
        const org = await resolveOrg(db, opts.org);
        const result = await db.kysely.transaction().execute((trx) => applyJourney(trx, deps, journeyRunControl(deps), org.id, file, { activate: opts.activate === true }));
        if (!result.ok) throw new UsageError(describeJourneyError(result.error));
        // First line exactly as cli.md states it (scripts parse it); activation says so on its own line.
        print(`${result.value.action} ${result.value.journey.key} v${result.value.journey.version}`);
        if (result.value.activated) print(`activated ${result.value.journey.key}`);
      });
    });
  return program;
}

function readJourneyFile(path: string): JourneyFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`Cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const file = parsed as Partial<JourneyFile> | null;
  if (file === null || typeof file !== 'object' || typeof file.key !== 'string' || !new RegExp(JOURNEY_KEY_PATTERN).test(file.key) || RESERVED_KEYS.includes(file.key)) {
    throw new UsageError(`${path} must hold { "key", "name", "definition" } with a key matching ${JOURNEY_KEY_PATTERN} ("runs" and "validate" are reserved).`);
  }
  if (typeof file.name !== 'string' || file.name.length < 1 || file.name.length > 200) throw new UsageError(`${path}: "name" must be 1–200 characters.`);
  return file as JourneyFile;
}

function describeJourneyError(error: JourneyError): string {
  switch (error.type) {
    case 'journey_definition_malformed':
    case 'journey_definition_invalid':
      return `The definition is invalid:\n${error.errors.map((e) => `  /definition${e.pointer}: ${e.message}`).join('\n')}`;
    case 'invalid_state':
      return `The journey is ${error.status}: it cannot be changed.`;
    case 'already_exists':
      return 'A journey with this key already exists.';
    case 'journey_not_found':
      return 'Journey not found.';
  }
}

function describeRecord(domain: DomainView): string {
  if (domain.status === 'verified') return `It is verified (DNS record ${domain.verificationRecord.name} TXT "${domain.verificationRecord.value}").`;
  return `Create this DNS record, then run \`segmentflow domains verify ${domain.name}\`:\n  ${domain.verificationRecord.name}  TXT  "${domain.verificationRecord.value}"`;
}

function describeSenderError(error: SenderError, email?: string): string {
  switch (error.type) {
    case 'invalid_field':
      return `Invalid ${error.pointer.slice(1)}: ${error.message}.`;
    case 'already_exists':
      return error.field === 'email' ? `A sender profile with the email ${email ?? ''} already exists.` : 'This domain already exists.';
    case 'reference_not_found':
      return `The domain of ${email ?? 'the email'} is not a domain of this organization: add it first with \`segmentflow domains add ${email?.slice(email.lastIndexOf('@') + 1).toLowerCase() ?? '<domain>'}\`.`;
    case 'not_found':
      return `${error.resource} not found.`;
    case 'resource_in_use':
      return 'The record is still in use.';
    case 'immutable_field':
      return `${error.field} cannot be changed.`;
  }
}

/** A template file holds a Template create body, checked by the API's own schema. */
function readTemplateFile(path: string): TemplateFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`Cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  templateFileValidator ??= bodyAjv.compile(CreateTemplateBody);
  if (!templateFileValidator(parsed)) {
    const errors = fieldErrorsFromAjv(templateFileValidator.errors ?? [], 'body');
    throw new UsageError(`${path} must hold a Template create body:\n${errors.map((e) => `  ${e.pointer || '/'}: ${e.message}`).join('\n')}`);
  }
  return parsed as TemplateFile;
}

let templateFileValidator: ValidateFunction | null = null;

function describeTemplateError(error: TemplateError): string {
  switch (error.type) {
    case 'invalid_definition':
      return `The definition is invalid:\n${error.errors.map((e) => `  /definition${e.pointer}: ${e.message}`).join('\n')}`;
    case 'template_incomplete':
      return `Saved, but cannot publish: ${error.missing.join(', ')} missing.`;
    case 'template_archived':
      return 'The template with this name is archived: unarchive it first.';
    case 'reference_not_found':
      return `Unknown references: ${error.pointers.join(', ')}.`;
    case 'template_not_found':
      return 'Template not found.';
    case 'resource_in_use':
      return `The template is used by ${error.references.map((r) => `${r.type} ${r.id}`).join(', ')}.`;
  }
}

export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      // Help shown instead of a missing command (`segmentflow`, `segmentflow api-keys`) is a usage error.
      if (error.code === 'commander.help') return error.exitCode === 0 ? 0 : 2;
      return 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(error.message + '\n');
      return 2;
    }
    process.stderr.write(`segmentflow: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
