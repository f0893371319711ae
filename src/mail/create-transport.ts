/**
 * Picks the configured mail transport (emails.md §6, `SEGMENTFLOW_MAIL_TRANSPORT`): `capture`
 * (the default) keeps messages in the database, `smtp` hands them to `SEGMENTFLOW_SMTP_URL`.
 */
import type { Config } from '../config.js';
import type { Db } from '../db/connect.js';
import type { GroupCommitter } from '../db/group-commit.js';
import type { Clock } from '../lib/clock.js';
import { createCaptureTransport } from './capture-transport.js';
import { createSmtpTransport } from './smtp-transport.js';
import type { MailTransport } from './transport.js';

/** Throws on an smtp configuration without a usable URL (config parsing normally rejects it first). */
export function createMailTransport(config: Config, db: Db, clock: Clock, committer?: GroupCommitter): MailTransport {
  switch (config.mailTransport) {
    case 'capture':
      return createCaptureTransport(db, clock, committer);
    case 'smtp':
      if (config.smtpUrl === null) throw new Error('SEGMENTFLOW_SMTP_URL is required with SEGMENTFLOW_MAIL_TRANSPORT=smtp');
      return createSmtpTransport(config.smtpUrl);
  }
}
