/**
 * Expected failures travel as values, not exceptions (STYLE.md habit 3). A service returns
 * `Result<T, E>` where `E` is a discriminated union; the HTTP layer maps each `type` to the
 * error envelope in one place.
 */
export type Ok<T> = { readonly ok: true; readonly value: T };
export type Err<E> = { readonly ok: false; readonly error: E };
export type Result<T, E> = Ok<T> | Err<E>;

export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

export function err<E>(error: E): Err<E> {
  return { ok: false, error };
}
