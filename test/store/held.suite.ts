/**
 * Conformance cases for the keyserver's roles on a `Store` (src/store/types.ts): held-aside
 * certifications (`HeldCertifications`) and the batch issuer lookup (`CertStore.primariesByKeyId`).
 * Run by sqlite.test.ts and postgres.test.ts, as the main suite.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { EnvironmentError } from '../../src/errors.js';
import type { HeldCertification, Store } from '../../src/store/types.js';
import { fixture, fixtureRing, INDEX, NOW } from './cert-store.suite.js';

const T1 = 'A5ABEFC1CE71143862DA4F94C2AFF1F4D74F845B';
const T2 = 'EB2806736BA12124A5022C2E141706111154994A';

/** A held certification with made-up bytes: the role stores them, it does not parse them. */
function item(target: string, n: number, created: number, issuer = `00000000${n.toString(16).padStart(8, '0')}`.toUpperCase()): HeldCertification {
  const sig = Buffer.concat([Buffer.from([0xc2, 40]), createHash('sha256').update(`sig ${n}`).digest(), Buffer.alloc(8, n)]);
  return { target: target as HeldCertification['target'], issuer: issuer as HeldCertification['issuer'], component: Buffer.from(`\xcd\x05uid ${n % 2}`, 'latin1'), sig, created, held: NOW };
}

export function keyserverSuite(name: string, open: () => Promise<Store>, reopenReadonly: (store: Store) => Promise<Store>): void {
  const withStore = (fn: (store: Store) => Promise<void>) => async () => {
    const store = await open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };

  describe(`Store conformance: ${name}: keyserver roles`, () => {
    test(
      'primariesByKeyId: primary keys only, many at once, unknown and malformed IDs left out',
      withStore(async (store) => {
        await store.certs.putMany(fixtureRing(), NOW);
        const alice = fixture('alice.pgp');
        const bob = fixture('bob.pgp');
        const ids = [alice.primary.keyId.toLowerCase(), bob.primary.keyId, '0123456789ABCDEF', 'nonsense', alice.primary.keyId];
        for (const s of alice.subkeys) ids.push(s.key.keyId);
        const got = await store.certs.primariesByKeyId(ids);
        const want = [
          { keyId: alice.primary.keyId, fpr: INDEX.alice.fpr },
          { keyId: bob.primary.keyId, fpr: INDEX.bob.fpr },
        ].sort((a, b) => (a.keyId < b.keyId ? -1 : 1));
        assert.deepEqual(got, want);
        assert.deepEqual(await store.certs.primariesByKeyId([]), []);
        // More than one statement's worth.
        const many = Array.from({ length: 1500 }, (_, i) => i.toString(16).padStart(16, '0'));
        many.push(bob.primary.keyId);
        assert.deepEqual(await store.certs.primariesByKeyId(many), [{ keyId: bob.primary.keyId, fpr: INDEX.bob.fpr }]);
      }),
    );

    test(
      'hold, of, count, byIssuer: the same signature twice is held once, the first time kept',
      withStore(async (store) => {
        const a = item(T1, 1, NOW - 10);
        const b = item(T1, 2, NOW - 20);
        const c = item(T2, 3, NOW - 5, a.issuer);
        assert.equal(await store.held.hold([a, b, c], 10), 3);
        assert.equal(await store.held.hold([{ ...a, held: NOW + 99 }], 10), 1);
        assert.equal(await store.held.count(T1), 2);
        assert.equal(await store.held.count(T2), 1);
        const ofT1 = await store.held.of(T1.toLowerCase());
        assert.deepEqual(
          ofT1.map((h) => h.sig),
          [a.sig, b.sig],
        );
        assert.equal(ofT1[0].held, NOW, 'first held time kept');
        assert.deepEqual(ofT1[0], a);
        const byIssuer = await store.held.byIssuer([a.issuer.toLowerCase(), 'nonsense']);
        assert.deepEqual(
          byIssuer.map((h) => [h.target, h.sig.toString('hex')]),
          [
            [T1, a.sig.toString('hex')],
            [T2, c.sig.toString('hex')],
          ],
        );
        assert.deepEqual(await store.held.byIssuer(['FFFFFFFFFFFFFFFF']), []);
      }),
    );

    test(
      'hold is bounded per target: the newest stay, ties by signature bytes, whatever the order they came in',
      withStore(async (store) => {
        const items = Array.from({ length: 30 }, (_, i) => item(T1, i, NOW - Math.floor(i / 2)));
        const other = item(T2, 100, NOW - 1000);
        // Oldest first, in two calls.
        const reversed = [...items].reverse();
        await store.held.hold([...reversed.slice(0, 20), other], 7);
        const kept = await store.held.hold(reversed.slice(20), 7);
        assert.equal(kept, 7, 'the 10 newest of the second call: 7 of them are among the newest');
        const held = await store.held.of(T1);
        assert.equal(held.length, 7);
        const expected = [...items].sort((x, y) => y.created - x.created || Buffer.compare(x.sig, y.sig)).slice(0, 7);
        assert.deepEqual(
          held.map((h) => h.sig.toString('hex')),
          expected.map((h) => h.sig.toString('hex')),
        );
        assert.equal(await store.held.count(T2), 1, 'another target is not trimmed');
        // Older than everything held: not held at all.
        assert.equal(await store.held.hold([item(T1, 999, NOW - 5000)], 7), 0);
        assert.equal(await store.held.count(T1), 7);
      }),
    );

    test(
      'remove and removeTarget',
      withStore(async (store) => {
        const a = item(T1, 1, NOW);
        const b = item(T1, 2, NOW);
        const c = item(T2, 3, NOW);
        await store.held.hold([a, b, c], 10);
        assert.equal(await store.held.remove([{ target: T1, sig: a.sig }, { target: T2, sig: a.sig }]), 1);
        assert.equal(await store.held.remove([]), 0);
        assert.deepEqual(
          (await store.held.of(T1)).map((h) => h.sig),
          [b.sig],
        );
        assert.equal(await store.held.removeTarget(T2), 1);
        assert.equal(await store.held.count(T2), 0);
        assert.equal(await store.held.removeTarget(T2), 0);
      }),
    );

    test('read-only: held certifications and key IDs are read, holding and removing refused', async () => {
      const writable = await open();
      await writable.certs.put(fixture('alice.pgp'), NOW);
      await writable.held.hold([item(T1, 1, NOW)], 10);
      const store = await reopenReadonly(writable);
      try {
        const readonly = (err: unknown) => err instanceof EnvironmentError && err.code === 'MS_STORE_READONLY';
        assert.equal(await store.held.count(T1), 1);
        assert.equal((await store.held.of(T1)).length, 1);
        assert.equal((await store.certs.primariesByKeyId([fixture('alice.pgp').primary.keyId])).length, 1);
        await assert.rejects(store.held.hold([item(T1, 2, NOW)], 10), readonly);
        await assert.rejects(store.held.remove([{ target: T1, sig: item(T1, 1, NOW).sig }]), readonly);
        await assert.rejects(store.held.removeTarget(T1), readonly);
      } finally {
        await store.close();
      }
    });
  });
}
