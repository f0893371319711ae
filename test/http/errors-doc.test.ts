/** docs/errors.md lists exactly the codes and statuses of src/http/errors.ts. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_STATUS } from '../../src/http/errors.js';

test('docs/errors.md documents the closed list of error codes with their statuses', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = Object.fromEntries([...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));
  assert.deepEqual(documented, { ...ERROR_STATUS });
});
