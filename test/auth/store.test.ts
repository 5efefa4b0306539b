/**
 * The pieces under the commands: the change seq and certification index the one store
 * keeps whoever writes, freshness of the precomputed bindings (change seq, core, code and
 * validity period), reachability from the core, the core's signatures (gpg's tsign
 * regex, local, replaced by revocation), and the small parsers (passwd, %h/%u, the test
 * clock, gpg's colon escaping).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parsePasswd } from '../../src/auth/accounts.js';
import { colonEscape } from '../../src/auth/certifiers.js';
import { computeBindings, reachableFrom, refreshBindings } from '../../src/auth/compute.js';
import { translateSshVariables } from '../../src/auth/config.js';
import { referenceTime } from '../../src/clock.js';
import { domainRegex, generateCore, loadCore, trustSign } from '../../src/auth/core.js';
import { AuthStore, keyIdOf } from '../../src/auth/store.js';
import { UsageError } from '../../src/errors.js';
import { CREATED, NOW, Person } from './pki.js';

const dir = mkdtempSync(join(tmpdir(), 'ms-auth-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshStore = () => AuthStore.open(join(dir, `s${n++}.sqlite`));
const at = (t: number) => t;

/** A store with a core, an admin certifier (full, depth 1) and Bob certified by the admin. */
async function web(opts: { bobExpiresAfter?: number } = {}) {
  const store = await freshStore();
  const { core } = generateCore(NOW);
  await store.putCerts([core.cert], at(NOW));
  await store.setCore(core.primary.fpr);
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person(['Bob <bob@example.net>'], { keyExpiresAfter: opts.bobExpiresAfter }).certifiedBy(admin);
  const stranger = new Person(['Stranger <s@example.net>']).certifiedBy(bob);
  await store.putCerts([admin.cert], at(NOW));
  await store.putCerts([trustSign(core, admin.cert, ['Admin <admin@example.net>'], { now: NOW, depth: 1, amount: 120 })], at(NOW));
  await store.putCerts([bob.cert, stranger.cert], at(NOW));
  return { store, core, admin, bob, stranger };
}

describe('store', () => {
  test('every certificate change moves the change seq, also through the plain CertStore', async () => {
    const store = await freshStore();
    try {
      const g0 = (await store.state()).seq;
      const p = new Person(['P <p@example.net>']);
      await store.certs.put(p.cert, at(NOW));
      const g1 = (await store.state()).seq;
      assert.ok(g1 > g0);
      await store.certs.put(p.cert, at(NOW));
      assert.equal((await store.state()).seq, g1, 'an unchanged put is no change');
      await store.certs.put(p.revokeKey(NOW), at(NOW));
      assert.ok((await store.state()).seq > g1);
      const g2 = (await store.state()).seq;
      await store.certs.delete(p.fpr);
      assert.ok((await store.state()).seq > g2);
    } finally {
      await store.close();
    }
  });

  test('the certification index follows writes made around the authentication store, at once', async () => {
    const { store, admin, bob, stranger } = await web();
    try {
      const carol = new Person(['Carol <c@example.net>']).certifiedBy(admin);
      await store.certs.put(carol.cert, at(NOW));
      const certified = (await store.certifiedBy([keyIdOf(admin.fpr)])).map((r) => r.fpr).sort();
      assert.deepEqual(certified, [bob.fpr, carol.fpr].sort());
      assert.deepEqual((await store.certifiedBy([keyIdOf(bob.fpr)])).map((r) => r.fpr), [stranger.fpr]);
      await store.certs.delete(carol.fpr);
      assert.deepEqual((await store.certifiedBy([keyIdOf(admin.fpr)])).map((r) => r.fpr), [bob.fpr]);
    } finally {
      await store.close();
    }
  });

  test('only what the core can reach is evaluated: certifiers, what they certified, on through trust signatures', async () => {
    const { store, core, admin, bob } = await web();
    try {
      const unrelated = new Person(['Unrelated <u@example.net>']);
      await store.putCerts([unrelated.cert], at(NOW));
      assert.deepEqual((await reachableFrom(store, core.primary.fpr)).sort(), [core.primary.fpr, admin.fpr, bob.fpr].sort());
    } finally {
      await store.close();
    }
  });

  test('precomputed bindings stay fresh until the generation changes or their validity period ends', async () => {
    const expires = 400 * 86400;
    const { store, bob } = await web({ bobExpiresAfter: expires });
    try {
      const computed = await refreshBindings(store, NOW);
      assert.ok(computed);
      const end = CREATED + expires + 1; // gpg: a key is expired once its expiry time has passed
      assert.equal(computed.validUntil, end);
      assert.ok(await store.isFresh(NOW));
      assert.equal(await refreshBindings(store, NOW), undefined, 'a fresh store is a lookup');
      assert.deepEqual((await store.bindingsFor('Bob <bob@example.net>')).map((r) => [r.validity, r.keys]), [['f', [bob.sshKey]]]);
      assert.ok(await store.isFresh(CREATED + expires), 'still fresh at the expiry second');
      assert.ok(!(await store.isFresh(NOW - 1)), 'stale before the time it was computed for');
      assert.ok(!(await store.isFresh(end)));
      await refreshBindings(store, end);
      assert.deepEqual((await store.bindingsFor('Bob <bob@example.net>')).map((r) => [r.validity, r.keys]), [['e', []]]);
      await store.putCerts([new Person(['New <n@example.net>']).cert], at(NOW));
      assert.ok(!(await store.isFresh(end)), 'stale after a change');
    } finally {
      await store.close();
    }
  });

  test('a read-only store answers from memory and never writes', async () => {
    const { store } = await web();
    const path = store.location;
    await store.close();
    const ro = await AuthStore.open(path, { readonly: true });
    try {
      assert.ok(!(await ro.isFresh(NOW)));
      const c = await computeBindings(ro, { now: NOW });
      assert.ok(c.rows.some((r) => r.uid === 'Bob <bob@example.net>' && r.validity === 'f'));
      assert.ok(!(await ro.isFresh(NOW)));
    } finally {
      await ro.close();
    }
  });
});

describe('trust core', () => {
  test("gpg tsign's domain regex", () => {
    assert.equal(domainRegex('example.net'), '<[^>]+[@.]example\\.net>$');
    assert.equal(domainRegex('my-dom.org'), '<[^>]+[@.]my\\-dom\\.org>$');
  });

  test('the core key survives a round trip through its file, and its trust signatures are local', async () => {
    const { secret, core } = generateCore(NOW);
    const file = join(dir, 'core.pgp');
    writeFileSync(file, secret, { mode: 0o600 });
    const loaded = loadCore(file);
    assert.equal(loaded.primary.fpr, core.primary.fpr);
    const admin = new Person(['Admin <admin@example.org>']);
    const frag = trustSign(loaded, admin.cert, ['Admin <admin@example.org>'], { now: NOW, depth: 2, amount: 60, regex: domainRegex('example.org') });
    const sig = frag.users[0].signatures[0].sig!;
    assert.equal(sig.exportable, false);
    assert.deepEqual(sig.trust, { level: 2, amount: 60 });
    assert.deepEqual(sig.regexes, ['<[^>]+[@.]example\\.org>$']);
    assert.deepEqual(sig.issuerFingerprints, [core.primary.fpr]);
    // Two signatures in the same second still differ (salt), so a re-added certifier is not deduplicated away.
    const again = trustSign(loaded, admin.cert, ['Admin <admin@example.org>'], { now: NOW, depth: 2, amount: 60 });
    assert.notDeepEqual(again.users[0].signatures[0].packet.body, frag.users[0].signatures[0].packet.body);
  });
});

describe('parsers', () => {
  test('passwd lines', () => {
    assert.deepEqual(parsePasswd('root:x:0:0:root:/root:/bin/bash\nbad line\nbob:x:1000:100:Bob:/home/bob:/bin/sh\n'), [
      { name: 'root', uid: 0, gid: 0, home: '/root' },
      { name: 'bob', uid: 1000, gid: 100, home: '/home/bob' },
    ]);
  });

  test('%h, %u and %% in paths, every occurrence', () => {
    assert.equal(translateSshVariables('%h/.monkeysphere/%u.%u.ids%%', { name: 'bob', home: '/home/bob' }), '/home/bob/.monkeysphere/bob.bob.ids%');
  });

  test('MONKEYSPHERE_TEST_NOW: ISO time or Unix seconds; anything else is a usage error', () => {
    assert.equal(referenceTime({ MONKEYSPHERE_TEST_NOW: '2023-01-15T00:00:00Z' }), NOW);
    assert.equal(referenceTime({ MONKEYSPHERE_TEST_NOW: String(NOW) }), NOW);
    assert.equal(referenceTime({ MONKEYSPHERE_TEST_NOW: '20230115T000000' }), NOW, "gpg's --faked-system-time form");
    assert.equal(referenceTime({ MONKEYSPHERE_TEST_NOW: '2023-01-15 00:00:00' }), NOW, 'a time without zone is UTC');
    assert.equal(referenceTime({}, () => 5), 5);
    assert.throws(() => referenceTime({ MONKEYSPHERE_TEST_NOW: 'yesterday' }), UsageError);
  });

  test("gpg's colon escaping", () => {
    assert.equal(colonEscape('a:b\\c\nd'), 'a\\x3ab\\x5cc\\nd');
    assert.equal(colonEscape('Zoë'), 'Zoë');
  });
});
