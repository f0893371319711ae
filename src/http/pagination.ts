/**
 * Cursor pagination of the lists we add (conventions.md §7): `limit` 1–200 (default 50) and an
 * opaque `cursor` holding the last id of the previous page, signed for one organization and route.
 * Lists are newest first, i.e. id descending (UUID v7 ids are time-ordered).
 */
import { Type } from 'typebox';
import { decodeCursor, encodeCursor } from '../lib/cursor.js';
import { validationError } from './errors.js';

export const PageQueryFields = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'nextCursor of the previous page.' })),
};

export const PageQuery = Type.Object(PageQueryFields, { additionalProperties: false });

/** The id to continue before, or null for the first page; a foreign or forged cursor → 400 `/cursor`. */
export function pageStart(secret: string, scope: string, cursor: string | undefined): string | null {
  if (cursor === undefined) return null;
  const position = decodeCursor(secret, scope, cursor);
  if (position === null) throw validationError([{ in: 'query', pointer: '/cursor', message: 'is not a cursor of this route' }]);
  return position;
}

/**
 * `{data, nextCursor}` from `limit + 1` rows read after the start: the extra row only tells
 * whether another page exists.
 */
export function pageOf<Row, View>(
  rows: readonly Row[],
  limit: number,
  cursor: { secret: string; scope: string; idOf: (row: Row) => string },
  view: (row: Row) => View,
): { data: View[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: page.map(view),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(cursor.secret, cursor.scope, cursor.idOf(last)) : null,
  };
}
