/**
 * Designated revokers through the authentication service's ingest (src/auth/ingest.ts, which
 * checks signatures with src/verify/sanitize.ts): a key revocation made by the revoker a key
 * designates is kept, and the key reads as revoked; one under a forged designation is dropped.
 * Fixtures made by gpg 2.2 (test/fixtures/certs/README.md: alice is the designated revoker of
 * revoked-by-designated and revokes it with --desig-revoke).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ingestCerts } from '../../src/auth/ingest.js';
import { AuthStore } from '../../src/auth/store.js';
import { evaluateCerts } from '../../src/cert/evaluate.js';
import { Keyring } from '../../src/keyring/keyring.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import { SigType } from '../../src/openpgp/signature.js';
import { Verifier } from '../../src/verify/verifier.js';
import { fixture, INDEX, NOW } from '../store/cert-store.suite.js';
import { Person } from './pki.js';

const dir = mkdtempSync(join(tmpdir(), 'ms-auth-revokers-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const keyRevocations = (c: Cert) => c.directSigs.filter((e) => e.sig?.type === SigType.KeyRevocation);

test("a designated revoker's key revocation is kept by the ingest, and the key reads as revoked", async () => {
  const store = await AuthStore.open(join(dir, `s${n++}.sqlite`));
  try {
    const alice = fixture('alice.pgp');
    const revoked = fixture('revoked-by-designated.pgp');
    assert.equal(keyRevocations(revoked).length, 1, 'the fixture carries the revocation');
    await ingestCerts(store, [alice, revoked], NOW);
    const stored = (await store.certs.get(INDEX['revoked-by-designated'].fpr))!.cert;
    assert.equal(keyRevocations(stored).length, 1);
    const [ev] = await evaluateCerts([stored], new Keyring([alice]), { now: NOW, verifier: new Verifier() });
    assert.equal(ev.primary.status, 'revoked');
  } finally {
    await store.close();
  }
});

test('a key revocation under a forged designation is dropped by the ingest', async () => {
  const store = await AuthStore.open(join(dir, `s${n++}.sqlite`));
  try {
    const victim = new Person(['Victim <victim@example.net>']);
    const mallory = new Person(['Mallory <mallory@example.net>']);
    const target = { kind: 'key' as const, primary: victim.cert.primary };
    // Mallory signs a "designation" naming the victim's key as its issuer, then revokes the victim's key.
    const designation = signV4(target, { type: SigType.DirectKey, signer: victim.cert.primary, privateKey: mallory.privateKey, hashed: [sp.created(NOW - 10), sp.issuerFingerprint(victim.cert.primary), sp.revocationKey(mallory.cert.primary)] });
    const revocation = signV4(target, { type: SigType.KeyRevocation, signer: mallory.cert.primary, privateKey: mallory.privateKey, hashed: [sp.created(NOW - 5), sp.issuerFingerprint(mallory.cert.primary)] });
    const raw = victim.cert.packets.map((p) => p.raw);
    const forged = readCerts(Buffer.concat([raw[0], designation.packet.raw, revocation.packet.raw, ...raw.slice(1)])).certs[0];
    await ingestCerts(store, [mallory.cert, forged], NOW);
    const stored = (await store.certs.get(victim.cert.primary.fpr))!.cert;
    assert.equal(keyRevocations(stored).length, 0);
    assert.equal(stored.directSigs.length, 0, 'nor the forged designation');
  } finally {
    await store.close();
  }
});
