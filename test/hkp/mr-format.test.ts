/**
 * The machine-readable index writer (src/keyserver/mr-index.ts formatMrIndex) against the
 * client's parser and GnuPG's rules: what is written reads back byte for byte, whatever the
 * user ID holds (colons, %, newlines, non-UTF-8 bytes, control characters).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { escapeIndexField, formatMrIndex, parseMrIndex } from '../../src/keyserver/mr-index.js';

const flags = (revoked = false, expired = false) => ({ revoked, disabled: false, expired });

test('SKS 1.1.6\'s lines are what we write', () => {
  const text = formatMrIndex([
    {
      id: '198F1E5033FDA20A6A25B47F2DBD972505DB91DB',
      algorithm: 22,
      bits: 256,
      created: 1795342125,
      flags: flags(true),
      userIds: [{ bytes: Buffer.from('Alice Test <alice@example.org>'), text: '', created: 1795342125, flags: flags() }],
    },
  ]);
  // SKS 1.1.6 writes the same lines, plus a last line holding only CR (test/hkp/sks-diff.test.ts).
  assert.equal(text, 'info:1:1\npub:198F1E5033FDA20A6A25B47F2DBD972505DB91DB:22:256:1795342125::r\nuid:Alice Test <alice@example.org>:1795342125::\n');
  assert.equal(escapeIndexField(Buffer.from('Zoë Colon: Test', 'utf8')), 'Zo%C3%AB Colon%3A Test');
});

test('any user ID bytes read back exactly, one line each', () => {
  const uids = [Buffer.from('a:b%c\nd\re\x00f'), Buffer.from([0xff, 0xfe, 0x3a, 0x25, 0x0a]), randomBytes(300), Buffer.from('ssh://host.example.org:2222')];
  const text = formatMrIndex([{ id: 'A'.repeat(40), algorithm: 1, bits: 4096, created: 1, expires: 2, flags: flags(false, true), userIds: uids.map((bytes) => ({ bytes, text: '', flags: flags(true, true) })) }]);
  assert.equal(text.split('\n').length, 2 + uids.length + 1);
  const flat = text.replace(/\n/g, '');
  for (const c of ['\r', '\n', '\u0000']) assert.ok(!flat.includes(c));
  const parsed = parseMrIndex(text);
  assert.equal(parsed.problems.length, 0);
  assert.deepEqual(
    parsed.keys[0].userIds.map((u) => u.bytes),
    uids,
  );
  assert.deepEqual(parsed.keys[0].flags, flags(false, true));
  assert.deepEqual(parsed.keys[0].userIds[0].flags, flags(true, true));
  assert.equal(parsed.keys[0].expires, 2);
});
