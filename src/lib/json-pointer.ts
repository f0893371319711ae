/**
 * RFC 6901 JSON Pointers: parsing, escaping, and removal used by redaction. Pure functions with
 * no knowledge of where a pointer came from.
 */

/** A valid pointer is "" or "/"-prefixed tokens where "~" is always followed by "0" or "1". */
export function isValidPointer(pointer: string): boolean {
  if (pointer === '') return true;
  if (!pointer.startsWith('/')) return false;
  return !/~(?![01])/.test(pointer);
}

export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function joinPointer(tokens: readonly (string | number)[]): string {
  return tokens.map((t) => '/' + escapeToken(String(t))).join('');
}

function isArrayIndex(token: string, length: number): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
  const index = Number(token);
  return index < length ? index : undefined;
}

/**
 * Removes the values at `pointers` (each relative to `root`) in place. Every pointer is resolved
 * against the original document first, then all are removed, so removing one cannot change what
 * another addresses: object members are deleted, array elements become null (other indexes stay
 * valid). Pointers that do not resolve are ignored. Returns the pointers that matched.
 */
export function removePointers(root: unknown, pointers: readonly string[]): string[] {
  const targets: { parent: Record<string, unknown> | unknown[]; key: string | number; pointer: string }[] = [];
  for (const pointer of pointers) {
    const tokens = parsePointer(pointer);
    if (tokens.length === 0) continue;
    let node: unknown = root;
    let found = true;
    for (let i = 0; i < tokens.length - 1 && found; i++) {
      node = child(node, tokens[i]!);
      if (node === undefined) found = false;
    }
    if (!found) continue;
    const last = tokens[tokens.length - 1]!;
    if (Array.isArray(node)) {
      const index = isArrayIndex(last, node.length);
      if (index !== undefined) targets.push({ parent: node, key: index, pointer });
    } else if (node !== null && typeof node === 'object' && Object.hasOwn(node, last)) {
      targets.push({ parent: node as Record<string, unknown>, key: last, pointer });
    }
  }
  for (const { parent, key } of targets) {
    if (Array.isArray(parent)) parent[key as number] = null;
    else delete parent[key as string];
  }
  return targets.map((t) => t.pointer);
}

function child(node: unknown, token: string): unknown {
  if (Array.isArray(node)) {
    const index = isArrayIndex(token, node.length);
    return index === undefined ? undefined : node[index];
  }
  if (node !== null && typeof node === 'object' && Object.hasOwn(node, token)) {
    return (node as Record<string, unknown>)[token];
  }
  return undefined;
}
