/** parseConfig: the bootstrap key rules (cli.md §3, conventions.md §2.1). Pure; no database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config.js';
import { generateApiKeySecret } from '../src/modules/api-keys/secrets.js';

const problems = (env: NodeJS.ProcessEnv) => {
  const parsed = parseConfig(env);
  return parsed.ok ? [] : parsed.error.map((p) => p.variable);
};

test('SEGMENTFLOW_BOOTSTRAP_API_KEY: any 20–200 visible ASCII, but an sk_live_ value must carry a valid checksum', () => {
  assert.deepEqual(problems({ SEGMENTFLOW_BOOTSTRAP_API_KEY: 'dev_key_0123456789abcdef' }), []);
  assert.deepEqual(problems({ SEGMENTFLOW_BOOTSTRAP_API_KEY: generateApiKeySecret() }), [], 'a generated key');
  const generated = generateApiKeySecret();
  const wrongChecksum = `${generated.slice(0, -1)}${generated.endsWith('x') ? 'y' : 'x'}`;
  for (const bad of ['short_key', 'has space in it 0123456789', 'sk_live_operator-chosen-key_0001', wrongChecksum]) {
    assert.deepEqual(problems({ SEGMENTFLOW_BOOTSTRAP_API_KEY: bad }), ['SEGMENTFLOW_BOOTSTRAP_API_KEY'], bad);
  }
});
