/** Request and response schemas of the Domains and SenderProfiles routes (emails.md §8.1–8.2). */
import { Type } from 'typebox';
import { PageQuery } from '../../http/pagination.js';
import { UUID_PATTERN } from '../../lib/ids.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Email = Type.String({ format: 'sf-email', maxLength: 254 });

export const IdParams = Type.Object({ id: Type.String({ pattern: UUID_PATTERN }) });
export const ListQuery = PageQuery;

export const DomainSchema = Type.Object({
  id: Type.String(),
  name: Type.String({ description: 'Lower-case ASCII (IDNs in punycode).' }),
  status: Type.Union([Type.Literal('pending'), Type.Literal('verified'), Type.Literal('failed')]),
  verificationRecord: Type.Object(
    { type: Type.Literal('TXT'), name: Type.String(), value: Type.String() },
    { description: 'The DNS TXT record that proves ownership: create it, then call verify.' },
  ),
  verifiedAt: Nullable(Type.String()),
  lastCheckedAt: Nullable(Type.String()),
  lastError: Nullable(Type.String({ description: 'Why the last check did not verify the Domain.' })),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const CreateDomainBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 1000, description: 'A host name, e.g. example.com; lower-cased, IDN → punycode, at most 253 characters.' }) },
  { additionalProperties: false },
);

export const SenderProfileSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  email: Type.String(),
  domainId: Type.String(),
  replyTo: Nullable(Type.String()),
  isDefault: Type.Boolean(),
  verified: Type.Boolean({ description: 'Its Domain is verified.' }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const senderFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  email: { ...Email, description: "The from-address; its domain must be a Domain of the organization. Immutable." },
  replyTo: Type.Optional(Nullable(Email)),
  isDefault: Type.Optional(Type.Boolean({ description: 'true makes this the default SenderProfile (the previous default is cleared). The first SenderProfile is always the default.' })),
};

export const CreateSenderProfileBody = Type.Object(senderFields, { additionalProperties: false });

export const UpdateSenderProfileBody = Type.Object(
  {
    name: Type.Optional(senderFields.name),
    email: Type.Optional({ ...Email, description: 'Immutable: anything but the current address → 422 immutable_field.' }),
    replyTo: senderFields.replyTo,
    isDefault: Type.Optional(Type.Boolean({ description: 'true makes this the default; false is ignored (make another SenderProfile the default instead).' })),
  },
  { additionalProperties: false },
);

export const page = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Object({ data: Type.Array(item), nextCursor: Nullable(Type.String()) });
