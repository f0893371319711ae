/** Code-unit order of two strings (what `Array.prototype.sort` uses by default), for comparators. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
