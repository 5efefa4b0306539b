/**
 * What a store indexes for a certificate (src/store/derive.ts): key rows for v4 and v6 keys,
 * user IDs, certification issuers (v4 and v6 issuers, trust signatures), the digest.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import { certificationIssuers, deriveIndexes, foldText, issuerIdsOf } from '../../src/store/derive.js';
import { fixture, INDEX } from './cert-store.suite.js';

const STORE_FIXTURES = new URL('../fixtures/store/', import.meta.url).pathname;

function storeFixture(name: string): Cert {
  const { certs } = readCerts(readFileSync(`${STORE_FIXTURES}${name}`));
  assert.equal(certs.length, 1, name);
  return certs[0];
}

describe('deriveIndexes', () => {
  test('v4: key rows for the primary and each subkey, user IDs, issuers, digest', () => {
    const alice = fixture('alice.pgp');
    const d = deriveIndexes(alice);
    assert.equal(d.fpr, INDEX.alice.fpr);
    assert.equal(d.keys.length, 1 + alice.subkeys.length);
    assert.deepEqual(d.keys[0], {
      fpr: INDEX.alice.fpr,
      keyId: INDEX.alice.fpr.slice(-16),
      shortId: INDEX.alice.fpr.slice(-8),
      rfpr: [...INDEX.alice.fpr].reverse().join(''),
      primary: true,
    });
    assert.deepEqual(
      d.keys.slice(1).map((k) => [k.fpr, k.primary]),
      alice.subkeys.map((s) => [s.key.fpr, false]),
    );
    assert.deepEqual(d.userIds.map(String), ['Alice <alice@example.com>']);
    assert.deepEqual(d.folded, ['alice <alice@example.com>']);
    assert.deepEqual(d.issuers, []);
    assert.deepEqual(d.digest, sksDigest(alice));
  });

  test('v6: key IDs are the high 64 bits, short IDs their low 32', () => {
    const vera = storeFixture('v6.pgp');
    const d = deriveIndexes(vera);
    assert.equal(d.fpr.length, 64);
    for (const k of d.keys) {
      assert.equal(k.keyId, k.fpr.slice(0, 16));
      assert.equal(k.shortId, k.fpr.slice(8, 16));
      assert.equal(k.rfpr, [...k.fpr].reverse().join(''));
    }
    assert.equal(d.keys.length, 2);
  });

  test('issuers: third parties only, trust signatures flagged, v6 issuers by their key ID', () => {
    const byIssuer = (c: Cert) => Object.fromEntries(certificationIssuers(c));
    assert.deepEqual(byIssuer(fixture('bob.pgp')), { [INDEX.alice.fpr.slice(-16)]: false });
    assert.deepEqual(byIssuer(fixture('carol.pgp')), { [INDEX.alice.fpr.slice(-16)]: true });
    assert.deepEqual(byIssuer(fixture('ltsign.pgp')), { [INDEX.alice.fpr.slice(-16)]: true });
    assert.deepEqual(byIssuer(fixture('sha1.pgp')), { [INDEX.grace.fpr.slice(-16)]: false, [INDEX.bob.fpr.slice(-16)]: false });
    assert.deepEqual(deriveIndexes(fixture('sha1.pgp')).issuers.map((r) => r.issuer), [INDEX.bob.fpr.slice(-16), INDEX.grace.fpr.slice(-16)]);
    const vera = storeFixture('v6.pgp');
    assert.deepEqual(byIssuer(vera), {});
    assert.deepEqual(byIssuer(storeFixture('v6-certified.pgp')), { [vera.primary.fpr.slice(0, 16)]: false });
  });

  test('issuerIdsOf: fingerprints first (v4 low, v6 high 64 bits), else key IDs', () => {
    const v6 = 'AB'.repeat(32);
    assert.deepEqual(issuerIdsOf([v6], ['CDCDCDCDCDCDCDCD']), ['ABABABABABABABAB']);
    assert.deepEqual(issuerIdsOf([INDEX.alice.fpr], []), [INDEX.alice.fpr.slice(-16)]);
    assert.deepEqual(issuerIdsOf([], ['cdcdcdcdcdcdcdcd']), ['CDCDCDCDCDCDCDCD']);
  });

  test('foldText is toLowerCase, for every script', () => {
    assert.equal(foldText('ÄÖÜ Σ Ω ŁÓDŹ'), 'äöü σ ω łódź');
  });
});
