/** parseConfig: the bootstrap key format (cli.md §3). Pure; no database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../src/config.js';
import { generateApiKeySecret } from '../src/modules/api-keys/secrets.js';

const problems = (env: NodeJS.ProcessEnv) => {
  const parsed = parseConfig(env);
  return parsed.ok ? [] : parsed.error.map((p) => p.variable);
};

test('SEGMENTFLOW_BOOTSTRAP_API_KEY: 20–200 visible ASCII (whether an sk_live_ value can be used is decided at bootstrap)', () => {
  for (const good of ['dev_key_0123456789abcdef', generateApiKeySecret(), 'sk_live_operator-chosen-key_0001', 'x'.repeat(200)]) {
    assert.deepEqual(problems({ SEGMENTFLOW_BOOTSTRAP_API_KEY: good }), [], good);
  }
  for (const bad of ['short_key', 'has space in it 0123456789', 'x'.repeat(201), 'tab\there_0123456789abc']) {
    assert.deepEqual(problems({ SEGMENTFLOW_BOOTSTRAP_API_KEY: bad }), ['SEGMENTFLOW_BOOTSTRAP_API_KEY'], bad);
  }
});
