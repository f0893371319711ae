/**
 * Journey simulation (journeys.md §9): checks the request against the definition (the trigger's
 * event, event times, the `until` bound), builds the starting state — a real Profile overlaid
 * with the given properties, or a synthetic one — and walks one virtual run (./virtual-run.ts).
 *
 * Writes nothing: it only reads the journey, templates and their snapshots, the Profile, its
 * subscriptions and the suppression list. Sends are answered as emails.send would decide them
 * (template state, the sender rules through the emails service's own `chooseSender`, subscription
 * and suppression gates, rendered subject) without an EmailSend, and skipped for the reasons the
 * real step gives (`sendSkipReason`). Event data is redacted with events.track's own
 * `redactEventData` before the run sees it, as the real run only ever sees the stored event.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../../db/tables.js';
import { parseDateTime } from '../../../lib/date-time.js';
import { toIso } from '../../../lib/clock.js';
import { MAX_DURATION_MS } from '../../../lib/duration.js';
import { err, ok, type Result } from '../../../lib/result.js';
import { chooseSender } from '../../emails/emails.service.js';
import { renderSend, selectSnapshotById, unsubscribeLinks } from '../../emails/send-render.js';
import { redactEventData } from '../../events/redaction.js';
import { getProfile, profileRenderState } from '../../profiles/profiles.service.js';
import { getSubscriptionGroup, isEffectivelySubscribed, subscriptionGate } from '../../subscriptions/subscriptions.service.js';
import { findSuppression } from '../../subscriptions/suppressions.service.js';
import { selectTemplate } from '../../templates/templates.store.js';
import type { JourneyDefinition, SendEmailStep } from '../definition/definition.js';
import { checkDefinition, getJourney, type JourneyError } from '../journeys.service.js';
import { sendSkipReason } from '../runs/steps.js';
import { applyProperties, simulateRun, type SimulatedEmail, type SimulatedEvent, type SimulationResult } from './virtual-run.js';

/** Default and maximum length of a simulation: 400 days after the trigger. */
export const MAX_SIMULATION_MS = MAX_DURATION_MS;
export const MAX_SIMULATED_EVENTS = 100;

export interface SimulateInput {
  definition?: unknown;
  profileId?: string | null;
  profile?: { email?: string | null; properties?: Record<string, unknown> | null } | null;
  trigger: { at: string; event?: string | null; data?: Record<string, unknown> | null; redactedDataPaths?: string[]; variables?: Record<string, unknown> | null };
  events?: { at: string; event: string; data?: Record<string, unknown> | null; redactedDataPaths?: string[] }[] | null;
  until?: string | null;
  assume?: { subscribed?: boolean | null; suppressed?: boolean | null } | null;
}

export type SimulateError =
  | JourneyError
  /** The request does not fit the definition or the bounds of §9: answered 400 with pointers. */
  | { type: 'simulation_input_invalid'; errors: { pointer: string; message: string }[] }
  | { type: 'profile_missing' };

export interface SimulateDeps {
  secret: string;
  publicUrl: string;
}

const SIMULATED_SEND_ID = '00000000-0000-0000-0000-000000000000';

export async function simulateJourney(
  db: Kysely<Database>,
  deps: SimulateDeps,
  organizationId: string,
  journeyId: string,
  input: SimulateInput,
): Promise<Result<SimulationResult, SimulateError>> {
  const journey = await getJourney(db, organizationId, journeyId);
  if (!journey) return err({ type: 'journey_not_found' });
  let definition: JourneyDefinition = journey.definition;
  if (input.definition !== undefined && input.definition !== null) {
    const checked = await checkDefinition(db, organizationId, input.definition, false);
    if (!checked.ok) return checked;
    definition = checked.value;
  }

  // Times and the trigger.
  const errors: { pointer: string; message: string }[] = [];
  const triggerAt = parseDateTime(input.trigger.at);
  if (triggerAt === null) return err({ type: 'simulation_input_invalid', errors: [{ pointer: '/trigger/at', message: 'is not an ISO-8601 date-time' }] });
  const maxUntil = triggerAt + MAX_SIMULATION_MS;
  let until = maxUntil;
  if (input.until !== undefined && input.until !== null) {
    const parsed = parseDateTime(input.until);
    if (parsed === null) errors.push({ pointer: '/until', message: 'is not an ISO-8601 date-time' });
    else if (parsed < triggerAt || parsed > maxUntil) errors.push({ pointer: '/until', message: 'must be between trigger.at and trigger.at + 400 days' });
    else until = parsed;
  }
  const entry = definition.entry;
  if (entry.type === 'event') {
    if (input.trigger.event !== undefined && input.trigger.event !== null && input.trigger.event !== entry.event) {
      errors.push({ pointer: '/trigger/event', message: `must be the entry event "${entry.event}"` });
    }
    if (input.trigger.variables !== undefined && input.trigger.variables !== null) errors.push({ pointer: '/trigger/variables', message: 'only for an API-entry journey' });
  } else {
    if (input.trigger.event !== undefined && input.trigger.event !== null) errors.push({ pointer: '/trigger/event', message: 'only for an event-entry journey' });
    if (input.trigger.data !== undefined && input.trigger.data !== null) errors.push({ pointer: '/trigger/data', message: 'only for an event-entry journey' });
    if (input.trigger.redactedDataPaths !== undefined) errors.push({ pointer: '/trigger/redactedDataPaths', message: 'only for an event-entry journey' });
  }
  const events: SimulatedEvent[] = [];
  for (const [index, e] of (input.events ?? []).entries()) {
    const at = parseDateTime(e.at);
    if (at === null) errors.push({ pointer: `/events/${index}/at`, message: 'is not an ISO-8601 date-time' });
    else if (at < triggerAt) errors.push({ pointer: `/events/${index}/at`, message: 'must not be before trigger.at' });
    else events.push({ index, at, event: e.event, data: redacted(e.data, e.redactedDataPaths) });
  }
  if (errors.length > 0) return err({ type: 'simulation_input_invalid', errors });
  events.sort((a, b) => a.at - b.at || a.index - b.index);

  // The Profile: real (overlaid) or synthetic.
  let profile: Record<string, unknown>;
  let profileId: string | null = null;
  let to: string | null = input.profile?.email ?? null;
  let suppressedReason: string | null = null;
  if (input.profileId !== undefined && input.profileId !== null) {
    const real = await getProfile(db, organizationId, input.profileId, deps.secret);
    if (!real) return err({ type: 'profile_missing' });
    profileId = real.id;
    profile = profileRenderState(real);
    to ??= real.email;
    if (to !== real.email) profile.email = to;
    const suppression = await findSuppression(db, deps.secret, organizationId, to);
    if (suppression) suppressedReason = `suppressed_${suppression.reason}`;
  } else {
    profile = { id: null, email: to, externalId: null, phone: null, createdAt: toIso(triggerAt) };
  }
  // Overlay the given properties; built-in fields win on a name clash (as the /profile view), `phone` mirrors its property.
  applyProperties(profile, input.profile?.properties ?? {});

  const assume = input.assume ?? {};
  if (assume.suppressed !== undefined && assume.suppressed !== null) suppressedReason = assume.suppressed ? 'suppressed_manual' : null;

  const sendEmail = async (stepId: string, step: SendEmailStep, state: Record<string, unknown>, at: number): Promise<SimulatedEmail> => {
    const email: SimulatedEmail = { stepId, at: toIso(at), templateId: step.templateId, templateSnapshotId: null, subject: null, to, skipReason: null };
    // 1. Template and its current snapshot (as emails.send; the reasons of the journey step).
    const template = await selectTemplate(db, organizationId, step.templateId.toLowerCase());
    if (!template) return { ...email, skipReason: 'template_missing' };
    email.templateId = template.id;
    if (template.status === 'Archived') return { ...email, skipReason: 'template_archived' };
    if (template.current_snapshot_id === null) return { ...email, skipReason: 'template_not_published' };
    const snapshot = await selectSnapshotById(db, organizationId, template.current_snapshot_id);
    if (!snapshot) throw new Error(`template ${template.id} points at missing snapshot ${template.current_snapshot_id}`);
    email.templateSnapshotId = snapshot.id;
    const context = {
      organizationId,
      emailSendId: SIMULATED_SEND_ID,
      profileId,
      subscriptionGroupId: step.subscriptionGroupId?.toLowerCase() ?? null,
      data: {},
      profile: state.profile as Record<string, unknown>,
      event: state.event as Record<string, unknown>,
      variables: state.variables as Record<string, unknown>,
      waited: state.waited as Record<string, unknown>,
    };
    const rendered = renderSend(snapshot, context, unsubscribeLinks(deps.publicUrl, deps.secret, context));
    email.subject = rendered.ok ? rendered.value.subject : null;
    // 2. Sender rules (the step's senderProfileId overrides the template's), as the real send decides them.
    const sender = await chooseSender(db, organizationId, step.senderProfileId !== undefined ? { senderProfileId: step.senderProfileId } : {}, rendered.ok ? rendered.value : { from: '', replyTo: '' }, snapshot.sender_profile_id);
    if (!sender.ok) {
      const reason = sendSkipReason(sender.error);
      // Every sender refusal is a reason the step skips for; anything else would be a new kind of refusal.
      if (reason === null) throw new Error(`send_email step ${stepId}: the simulated send was refused (${sender.error.type})`);
      return { ...email, skipReason: reason };
    }
    // 3. Gates: subscription, then suppression.
    if (context.subscriptionGroupId !== null) email.skipReason = await subscriptionSkip(context.subscriptionGroupId);
    email.skipReason ??= suppressedReason;
    return email;
  };

  const subscriptionSkip = async (groupId: string): Promise<string | null> => {
    if (assume.subscribed !== undefined && assume.subscribed !== null) return assume.subscribed ? null : 'not_subscribed';
    if (profileId !== null) {
      const gate = await subscriptionGate(db, organizationId, profileId, groupId);
      // A deleted group cannot have this Profile subscribed (as the journey step decides).
      return gate.allowed ? null : gate.reason === 'group_not_found' ? 'not_subscribed' : gate.reason;
    }
    // A synthetic Profile has no status in any group: OptOut groups send, OptIn groups do not.
    const group = await getSubscriptionGroup(db, organizationId, groupId);
    return group && isEffectivelySubscribed(group.type, 'none') ? null : 'not_subscribed';
  };

  const result = await simulateRun(
    {
      definition,
      triggerAt,
      until,
      event: entry.type === 'event' ? redacted(input.trigger.data, input.trigger.redactedDataPaths) : {},
      variables: input.trigger.variables ?? {},
      profile,
      events,
    },
    { sendEmail },
  );
  return ok(result);
}

/** Event data as the run would see it: a copy without the redacted paths (events.md §5). */
function redacted(data: Record<string, unknown> | null | undefined, paths: readonly string[] | undefined): Record<string, unknown> {
  const copy = structuredClone(data ?? {});
  redactEventData(copy, paths ?? []);
  return copy;
}
