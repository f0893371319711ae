/**
 * Template files (`segmentflow templates import`, starter templates at bootstrap): a Template
 * create body, upserted by name — created when no template has that name, otherwise updated —
 * and optionally published.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/tables.js';
import { err, ok, type Result } from '../../lib/result.js';
import type { TemplateFile } from './starters.js';
import { createTemplate, publishTemplate, updateTemplate, type TemplateError, type TemplateSource, type TemplateView } from './templates.service.js';
import { selectTemplateByName } from './templates.store.js';

export interface ImportOutcome {
  action: 'created' | 'updated';
  template: TemplateView;
  /** Set when publishing was asked for: the published template, or why it could not be published. */
  published: boolean;
}

export async function importTemplate(
  db: Kysely<Database>,
  deps: Parameters<typeof createTemplate>[1],
  organizationId: string,
  file: TemplateFile,
  options: { publish: boolean; source: TemplateSource },
): Promise<Result<ImportOutcome, TemplateError>> {
  const existing = await selectTemplateByName(db, organizationId, file.name);
  // The whole create body, as the API takes it; on an existing template, a PUT of the same fields.
  const saved = existing
    ? await updateTemplate(db, deps, organizationId, existing.id, file)
    : await createTemplate(db, deps, organizationId, file, options.source);
  if (!saved.ok) return saved;
  const action = existing ? 'updated' : 'created';
  if (!options.publish) return ok({ action, template: saved.value, published: false });
  const published = await publishTemplate(db, deps, organizationId, saved.value.id);
  if (!published.ok) return err(published.error);
  return ok({ action, template: published.value, published: true });
}
