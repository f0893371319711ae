/**
 * The explicit dependency object handed to buildApp, the worker and the CLI. Nothing below the
 * entry points reads the environment or creates connections of its own.
 */
import type { Config } from './config.js';
import type { Db } from './db/connect.js';
import { GroupCommitter } from './db/group-commit.js';
import type { Clock } from './lib/clock.js';
import type { IdGenerator } from './lib/ids.js';
import type { Logger } from './logger.js';
import type { JourneyEvaluator } from './modules/events/journey-hook.js';
import { createJourneyEvaluator } from './modules/journeys/runs/evaluator.js';
import { systemTxtResolver, type TxtResolver } from './modules/senders/domain-verification.js';

export interface Deps {
  config: Config;
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Batches concurrent write requests into shared transactions (group commit). */
  committer: GroupCommitter;
  /** Called inside the events.track transaction; the journeys module plugs in here. */
  journeys: JourneyEvaluator;
  /** The instance secret (SEGMENTFLOW_SECRET or the one stored at bootstrap): signs cursors and tokens. */
  secret: string;
  /** DNS TXT lookups for Domain verification (tests and offline machines supply their own). */
  resolveTxt: TxtResolver;
}

export interface DepsInput {
  config: Config;
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  secret: string;
  journeys?: JourneyEvaluator;
  resolveTxt?: TxtResolver;
}

export function createDeps(input: DepsInput): Deps {
  return {
    ...input,
    committer: new GroupCommitter(input.db),
    journeys: input.journeys ?? createJourneyEvaluator({ clock: input.clock, ids: input.ids, secret: input.secret }),
    resolveTxt: input.resolveTxt ?? systemTxtResolver,
  };
}
