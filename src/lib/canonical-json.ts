/**
 * Canonical JSON for request fingerprints (conventions.md §8.3): object keys sorted by UTF-16 code
 * units, array order kept, no insignificant whitespace. Iterative, so a deep document cannot
 * overflow the stack (bodies are depth-checked before this runs anyway).
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  type Frame = { kind: 'value'; value: unknown } | { kind: 'text'; text: string };
  const stack: Frame[] = [{ kind: 'value', value }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (frame.kind === 'text') {
      out.push(frame.text);
      continue;
    }
    const v = frame.value;
    if (Array.isArray(v)) {
      const frames: Frame[] = [{ kind: 'text', text: '[' }];
      v.forEach((item, i) => {
        if (i > 0) frames.push({ kind: 'text', text: ',' });
        frames.push({ kind: 'value', value: item === undefined ? null : item });
      });
      frames.push({ kind: 'text', text: ']' });
      for (let i = frames.length - 1; i >= 0; i--) stack.push(frames[i]!);
    } else if (v !== null && typeof v === 'object') {
      // Default sort compares UTF-16 code units, which is what the spec asks for.
      const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
      const frames: Frame[] = [{ kind: 'text', text: '{' }];
      keys.forEach((k, i) => {
        frames.push({ kind: 'text', text: (i > 0 ? ',' : '') + JSON.stringify(k) + ':' });
        frames.push({ kind: 'value', value: (v as Record<string, unknown>)[k] });
      });
      frames.push({ kind: 'text', text: '}' });
      for (let i = frames.length - 1; i >= 0; i--) stack.push(frames[i]!);
    } else {
      out.push(v === undefined ? 'null' : JSON.stringify(v));
    }
  }
  return out.join('');
}
