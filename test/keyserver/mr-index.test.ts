import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { parseMrIndex } from '../../src/keyserver/mr-index.js';

test('SKS 1.1.6 output: info, pub with fingerprint and flags, escaped uid, CRLF', () => {
  const text =
    'info:1:2\r\n' +
    'pub:198F1E5033FDA20A6A25B47F2DBD972505DB91DB:22:256:1795342125::r\r\n' +
    'uid:Alice Test <alice@example.org>:1795342125::\r\n' +
    'pub:74826AC8393243DAD610D22D951BAA38EE01E3C3:22:256:1795348200::\r\n' +
    'uid:ssh%3A//host.example.org:1795348200::\r\n' +
    'uid:Zo%C3%AB Colon%3A Test:1795348200::\r\n' +
    '\r\n';
  const index = parseMrIndex(Buffer.from(text));
  assert.equal(index.version, 1);
  assert.equal(index.count, 2);
  assert.equal(index.problems.length, 0);
  assert.equal(index.keys.length, 2);
  const [a, b] = index.keys;
  assert.equal(a.id, '198F1E5033FDA20A6A25B47F2DBD972505DB91DB');
  assert.equal(a.idKind, 'fingerprint');
  assert.equal(a.algorithm, 22);
  assert.equal(a.bits, 256);
  assert.equal(a.created, 1795342125);
  assert.equal(a.expires, undefined);
  assert.deepEqual(a.flags, { revoked: true, disabled: false, expired: false });
  assert.equal(a.userIds[0].text, 'Alice Test <alice@example.org>');
  assert.deepEqual(b.userIds.map((u) => u.text), ['ssh://host.example.org', 'Zoë Colon: Test']);
  assert.deepEqual(b.userIds[1].bytes, Buffer.from('Zoë Colon: Test', 'utf8'));
});

test('missing fields, missing trailing colons, upper-case flags and records, no info line', () => {
  const index = parseMrIndex('PUB:0x2dbd972505db91db\nuid:Bob\npub:ABCDEF12:1:1024:100:200:RDE\nUID:Old:100\n');
  assert.equal(index.version, undefined);
  assert.equal(index.keys.length, 2);
  assert.equal(index.keys[0].id, '2DBD972505DB91DB');
  assert.equal(index.keys[0].idKind, 'keyid');
  assert.equal(index.keys[0].algorithm, undefined);
  assert.deepEqual(index.keys[0].userIds.map((u) => u.text), ['Bob']);
  assert.equal(index.keys[1].idKind, 'short-keyid');
  assert.equal(index.keys[1].expires, 200);
  assert.deepEqual(index.keys[1].flags, { revoked: true, disabled: true, expired: true });
  assert.equal(index.keys[1].userIds[0].created, 100);
});

test('raw (unescaped) UTF-8 and literal percent signs are kept as bytes', () => {
  const index = parseMrIndex(Buffer.from('pub:74826AC8393243DAD610D22D951BAA38EE01E3C3\nuid:Zoë 100%\n'));
  assert.equal(index.keys[0].userIds[0].text, 'Zoë 100%');
});

test('unusable lines are reported, not fatal', () => {
  const index = parseMrIndex('uid:orphan\npub::1:2\nuid:belongs to the bad pub\npub:XYZ\npub:74826AC8393243DAD610D22D951BAA38EE01E3C3\nuid:ok\nfoo:future:record\n');
  assert.equal(index.keys.length, 1);
  assert.deepEqual(index.keys[0].userIds.map((u) => u.text), ['ok']);
  assert.deepEqual(
    index.problems.map((p) => p.message),
    ['index line 1: "uid" record outside any key', 'index line 2: "pub" record without a key ID or fingerprint ("")', 'index line 3: "uid" record outside any key', 'index line 4: "pub" record without a key ID or fingerprint ("XYZ")'],
  );
});

test('an empty body is an empty index', () => {
  assert.deepEqual(parseMrIndex('').keys, []);
});

test('HTML (first byte "<") is rejected like GnuPG does', () => {
  for (const html of ['<html><body>pub:74826AC8393243DAD610D22D951BAA38EE01E3C3</body></html>', '<?xml version="1.0"?>']) {
    assert.throws(() => parseMrIndex(html), (err: unknown) => err instanceof InputError && err.code === 'MS_KEYSERVER_HTML_INDEX');
  }
});
