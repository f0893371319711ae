/** Request and response schemas of SubscriptionGroups, Profile subscriptions and suppressions (emails.md §8.3–8.4, profiles.md §6). */
import { Type } from 'typebox';
import { PageQueryFields } from '../../http/pagination.js';
import { UUID_PATTERN } from '../../lib/ids.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Uuid = Type.String({ pattern: UUID_PATTERN });
const Email = Type.String({ format: 'sf-email', maxLength: 254 });
const GroupType = Type.Union([Type.Literal('OptIn'), Type.Literal('OptOut')]);
const Reason = Type.Union([Type.Literal('hard_bounce'), Type.Literal('complaint'), Type.Literal('manual')]);

export const page = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Object({ data: Type.Array(item), nextCursor: Nullable(Type.String()) });

export const IdParams = Type.Object({ id: Uuid });
export const ListQuery = Type.Object(PageQueryFields, { additionalProperties: false });

export const SubscriptionGroupSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Nullable(Type.String()),
  type: GroupType,
  channel: Type.Literal('email'),
  subscribedCount: Type.Integer({ description: 'Profiles effectively subscribed: status subscribed (OptIn), or every Profile not unsubscribed (OptOut).' }),
  unsubscribedCount: Type.Integer({ description: 'Profiles whose status is unsubscribed.' }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const groupFields = {
  name: Type.String({ minLength: 1, maxLength: 200, description: 'Unique in the organization.' }),
  description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  type: { ...GroupType, description: 'OptIn: only subscribed Profiles receive; OptOut: everyone not unsubscribed. Immutable.' },
};

export const CreateSubscriptionGroupBody = Type.Object(groupFields, { additionalProperties: false });
export const UpdateSubscriptionGroupBody = Type.Object(
  { name: Type.Optional(groupFields.name), description: groupFields.description, type: Type.Optional({ ...GroupType, description: 'Immutable: anything but the current type → 422 immutable_field.' }) },
  { additionalProperties: false },
);

export const ProfileSubscriptionSchema = Type.Object({
  subscriptionGroupId: Type.String(),
  name: Type.String(),
  type: GroupType,
  channel: Type.Literal('email'),
  status: Type.Union([Type.Literal('subscribed'), Type.Literal('unsubscribed'), Type.Literal('none')], { description: 'none: never set.' }),
  isSubscribed: Type.Boolean({ description: 'Effective: OptIn → status is subscribed; OptOut → status is not unsubscribed.' }),
  source: Nullable(Type.String({ description: 'api | unsubscribe_link | one_click | preferences_page | import | journey' })),
  updatedAt: Nullable(Type.String()),
});

export const ProfileSubscriptionsSchema = Type.Object({ profileId: Type.String(), subscriptions: Type.Array(ProfileSubscriptionSchema) });
export const ProfileParams = Type.Object({ profileId: Uuid });
export const ProfileGroupParams = Type.Object({ profileId: Uuid, subscriptionGroupId: Uuid });
export const SetProfileSubscriptionBody = Type.Object(
  { status: Type.Union([Type.Literal('subscribed'), Type.Literal('unsubscribed')]) },
  { additionalProperties: false },
);

export const SuppressionSchema = Type.Object({
  email: Nullable(Type.String({ description: 'null for a hashed marker left by erasure.' })),
  reason: Reason,
  source: Type.String({ description: 'smtp | webhook | api | cli' }),
  suppressedAt: Type.String(),
  latestBounceReason: Nullable(Type.String()),
  latestBounceDiagnosticCode: Nullable(Type.String()),
});

export const ListSuppressionsQuery = Type.Object(
  { reason: Type.Optional(Reason), email: Type.Optional({ ...Email, description: 'Exact address (also finds an erasure marker of it).' }), ...PageQueryFields },
  { additionalProperties: false },
);

export const CreateSuppressionBody = Type.Object({ email: Email, reason: Type.Optional(Type.Literal('manual')) }, { additionalProperties: false });
export const SuppressionParams = Type.Object({ email: { ...Email, description: 'URL-encoded address.' } });
