import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { DEFAULT_KEYSERVER, parseKeyserverUrl } from '../../src/keyserver/url.js';

test('hkp defaults to port 11371 over plain HTTP', () => {
  const u = parseKeyserverUrl('hkp://keys.example.org');
  assert.deepEqual(u, { scheme: 'hkp', host: 'keys.example.org', port: 11371, tls: false, origin: 'http://keys.example.org:11371', text: 'hkp://keys.example.org' });
});

test('hkps is HTTPS on 443; http and https use 80 and 443', () => {
  assert.equal(parseKeyserverUrl('hkps://keyserver.ubuntu.com').origin, 'https://keyserver.ubuntu.com');
  assert.equal(parseKeyserverUrl('hkps://keyserver.ubuntu.com').tls, true);
  assert.equal(parseKeyserverUrl('hkps://keyserver.ubuntu.com').port, 443);
  assert.equal(parseKeyserverUrl('http://ks.example.org').port, 80);
  assert.equal(parseKeyserverUrl('http://ks.example.org').origin, 'http://ks.example.org');
  assert.equal(parseKeyserverUrl('https://ks.example.org/').origin, 'https://ks.example.org');
});

test('explicit ports, upper-case schemes and hosts, IPv6 literals', () => {
  assert.equal(parseKeyserverUrl('hkp://127.0.0.1:12345').origin, 'http://127.0.0.1:12345');
  assert.equal(parseKeyserverUrl('HKPS://Keys.Example.ORG:8443').origin, 'https://keys.example.org:8443');
  assert.equal(parseKeyserverUrl('http://ks.example.org').text, 'http://ks.example.org');
  const v6 = parseKeyserverUrl('hkp://[::1]:11372');
  assert.equal(v6.host, '::1');
  assert.equal(v6.origin, 'http://[::1]:11372');
  assert.equal(parseKeyserverUrl('hkp://[::1]').port, 11371);
  assert.equal(parseKeyserverUrl('x-hkp://ks.example.org').scheme, 'hkp');
});

test('a bare host (with or without port) means hkp', () => {
  assert.equal(parseKeyserverUrl('keys.example.org').origin, 'http://keys.example.org:11371');
  assert.equal(parseKeyserverUrl('  keys.example.org:1234 ').origin, 'http://keys.example.org:1234');
  assert.equal(parseKeyserverUrl('pool.sks-keyservers.net').scheme, 'hkp');
});

test('the default keyserver is hkps://keyserver.ubuntu.com', () => {
  assert.equal(DEFAULT_KEYSERVER, 'hkps://keyserver.ubuntu.com');
  assert.equal(parseKeyserverUrl(DEFAULT_KEYSERVER).origin, 'https://keyserver.ubuntu.com');
});

test('other schemes and malformed addresses are usage errors naming the address', () => {
  for (const bad of ['ldap://keys.example.org', 'finger://keys.example.org', 'mailto:keys@example.org', 'hkp://', '', 'hkp://ks.example.org:0',
    'hkp://ks.example.org:70000', 'hkp://ks.example.org:', 'hkp://user:pw@ks.example.org', 'hkp://ks.example.org/pks/lookup',
    'hkp://ks.example.org?op=get', 'hkp://ks example.org', 'hkp://-bad.example.org']) {
    assert.throws(
      () => parseKeyserverUrl(bad),
      (err: unknown) => err instanceof UsageError && err.code === 'MS_KEYSERVER_URL' && err.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
  assert.throws(() => parseKeyserverUrl('ldap://keys.example.org'), /unsupported scheme "ldap"/);
});
