/** Form bodies (urlencoded, multipart) and Accept negotiation of the public pages, without a database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFormFields, prefersJson } from '../../src/modules/public-links/form-body.js';

test('urlencoded fields, repeated names kept in order; unknown types and empty bodies give no fields', () => {
  assert.deepEqual(parseFormFields('application/x-www-form-urlencoded', Buffer.from('List-Unsubscribe=One-Click')), [['List-Unsubscribe', 'One-Click']]);
  assert.deepEqual(parseFormFields('application/x-www-form-urlencoded; charset=UTF-8', Buffer.from('group=a&group=b+c&x=%26')), [['group', 'a'], ['group', 'b c'], ['x', '&']]);
  assert.deepEqual(parseFormFields('text/plain', Buffer.from('List-Unsubscribe=One-Click')), []);
  assert.deepEqual(parseFormFields(undefined, Buffer.from('List-Unsubscribe=One-Click')), []);
  assert.deepEqual(parseFormFields('application/x-www-form-urlencoded', Buffer.alloc(0)), []);
});

test('multipart/form-data text fields: quoted or bare boundary and names, extra headers, file parts skipped', () => {
  const body = [
    'preamble',
    '--XyZ',
    'Content-Disposition: form-data; name="List-Unsubscribe"',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'One-Click',
    '--XyZ',
    'content-disposition: form-data; name=group',
    '',
    'g1',
    '--XyZ',
    'Content-Disposition: form-data; name="upload"; filename="a.txt"',
    '',
    'file body',
    '--XyZ--',
    '',
  ].join('\r\n');
  const expected = [['List-Unsubscribe', 'One-Click'], ['group', 'g1']];
  assert.deepEqual(parseFormFields('multipart/form-data; boundary=XyZ', Buffer.from(body)), expected);
  assert.deepEqual(parseFormFields('multipart/form-data; boundary="XyZ"', Buffer.from(body)), expected);
  assert.deepEqual(parseFormFields('multipart/form-data; boundary=XyZ', Buffer.from(body.replaceAll('\r\n', '\n'))), expected, 'bare LF');
  assert.deepEqual(parseFormFields('multipart/form-data', Buffer.from(body)), [], 'no boundary');
  assert.deepEqual(parseFormFields('multipart/form-data; boundary=XyZ', Buffer.from('garbage')), []);
});

test('JSON only when Accept ranks it above HTML', () => {
  assert.equal(prefersJson(undefined), false);
  assert.equal(prefersJson('*/*'), false);
  assert.equal(prefersJson('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), false);
  assert.equal(prefersJson('application/json'), true);
  assert.equal(prefersJson('application/json, text/plain, */*'), true);
  assert.equal(prefersJson('application/*'), true);
  assert.equal(prefersJson('application/json;q=0.5, text/html'), false);
  assert.equal(prefersJson('text/html;q=0.1, application/json;q=0.2'), true);
  assert.equal(prefersJson('application/json, text/html'), false, 'a tie goes to the page');
  assert.equal(prefersJson('application/json;q=0'), false);
});
