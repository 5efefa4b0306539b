/**
 * The keyserver's ingest policy (docs/design/keyserver.md), one test per rule, on a SQLite
 * store, with certificates from the seeded generator (test/helpers/flood.ts) at its fixed
 * reference time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { InputError, MsError } from '../../src/errors.js';
import { armor } from '../../src/openpgp/armor.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import { encodeOldPacket } from '../../src/openpgp/packets.js';
import { SigType } from '../../src/openpgp/signature.js';
import { type IngestPolicy, Keyserver } from '../../src/server/keyserver.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { Person } from '../auth/pki.js';
import { FLOOD_CREATED, FLOOD_NOW, Holder, throwawayKeys, withSignatures } from '../helpers/flood.js';

const NOW = FLOOD_NOW;
const root = mkdtempSync(join(tmpdir(), 'ms-ks-policy-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function open(policy: Partial<IngestPolicy> = {}): Promise<{ ks: Keyserver; store: Store; close: () => Promise<void> }> {
  const store = await SqliteStore.open(join(root, `ks-${++n}.sqlite`));
  const ks = await Keyserver.open(store, policy);
  return { ks, store, close: () => store.close() };
}

const A = 'Alice <alice@example.org>';
const alice = () => new Holder('alice', [A]);
const bob = new Holder('bob', ['Bob <bob@example.org>']);
const carol = new Holder('carol', ['Carol <carol@example.org>']);
const dave = new Holder('dave', ['Dave <dave@example.org>']);

async function served(store: Store, fpr: string): Promise<Cert> {
  const s = await store.certs.get(fpr);
  assert.ok(s, `${fpr} is stored`);
  return s.cert;
}

const sigsOn = (cert: Cert, uid: string) => cert.users.find((u) => u.text === uid)?.signatures ?? [];
const bodies = (cert: Cert) => new Set(cert.packets.map((p) => p.body.toString('hex')));

/** `bytes` (one certificate) with `sig` right after the primary key packet, where key signatures go. */
function afterPrimary(bytes: Buffer, sig: Buffer): Buffer {
  const cert = readCerts(bytes).certs[0];
  const first = cert.packets[0].raw;
  return Buffer.concat([first, sig, bytes.subarray(first.length)]);
}

/** A copy of a signature packet with its last byte changed: a forgery that still parses. */
function forged(raw: Buffer): Buffer {
  const out = Buffer.from(raw);
  out[out.length - 1] ^= 0x01;
  return out;
}

describe('keyserver ingest policy', () => {
  test('every signature is verified: a forged self-signature and a forged certification by a known issuer are dropped', async () => {
    const { ks, store, close } = await open();
    try {
      await ks.submit(bob.bytes, { now: NOW });
      const a = alice();
      a.cert = readCerts(Buffer.concat([a.bytes])).certs[0];
      const second = new Holder('alice', [A, 'Alice Forged <forged@example.org>']);
      const forgedUid = second.cert.users[1];
      const good = bob.certify(a.cert, A, FLOOD_CREATED + 10);
      const bad = forged(bob.certify(a.cert, A, FLOOD_CREATED + 20));
      const bytes = Buffer.concat([withSignatures(a.cert, A, [good, bad]), forgedUid.packet.raw, forged(forgedUid.signatures[0].packet.raw)]);
      const r = await ks.submit(bytes, { now: NOW });
      const out = r.certs[0];
      assert.equal(out.status, 'inserted');
      assert.equal(out.dropped['bad signature'], 2);
      assert.equal(out.dropped['unbound user ID'], 1);
      assert.deepEqual(out.userIds, [A], 'the user ID with a forged self-signature is not stored');
      const cert = await served(store, a.fpr);
      assert.ok(bodies(cert).has(readCerts(Buffer.concat([a.primary.packet.raw, a.cert.users[0].packet.raw, good])).certs[0].users[0].signatures[0].packet.body.toString('hex')));
      assert.equal(sigsOn(cert, A).length, 2, 'self-signature and the good certification');
    } finally {
      await close();
    }
  });

  test('user IDs and subkeys without a good self-signature are dropped', async () => {
    const { ks, store, close } = await open();
    try {
      const a = alice();
      const other = new Holder('other', ['Other <o@example.org>']);
      // A user ID with no signature, and another key's primary as a subkey packet with no binding.
      const subkey = Buffer.from(other.primary.packet.raw);
      subkey[0] = 0xc0 | 14;
      const bytes = Buffer.concat([a.bytes, other.cert.users[0].packet.raw, subkey]);
      const r = await ks.submit(bytes, { now: NOW });
      assert.equal(r.certs[0].dropped['unbound user ID'], 1);
      assert.equal(r.certs[0].dropped['unbound subkey'], 1);
      const cert = await served(store, a.fpr);
      assert.equal(cert.users.length, 1);
      assert.equal(cert.subkeys.length, 0);
      assert.deepEqual((await store.certs.byExactUserId('Other <o@example.org>')).map((s) => s.fpr), [other.fpr].filter(() => false));
    } finally {
      await close();
    }
  });

  test('a certificate with nothing bound is rejected, not stored', async () => {
    const { ks, store, close } = await open();
    try {
      const a = alice();
      const bytes = Buffer.concat([a.primary.packet.raw, a.cert.users[0].packet.raw, forged(a.cert.users[0].signatures[0].packet.raw)]);
      const r = await ks.submit(bytes, { now: NOW });
      assert.equal(r.certs[0].status, 'rejected');
      assert.equal(await store.certs.count(), 0);
    } finally {
      await close();
    }
  });

  test('non-exportable (local) signatures are dropped', async () => {
    const { ks, store, close } = await open();
    try {
      await ks.submit(bob.bytes, { now: NOW });
      const a = alice();
      const r = await ks.submit(withSignatures(a.cert, A, [bob.certify(a.cert, A, FLOOD_CREATED + 5, { exportable: false })]), { now: NOW });
      assert.equal(r.certs[0].dropped['local signature'], 1);
      assert.equal(sigsOn(await served(store, a.fpr), A).length, 1);
    } finally {
      await close();
    }
  });

  test('a certification by a key the server holds is verified and served', async () => {
    const { ks, store, close } = await open();
    try {
      await ks.submit(bob.bytes, { now: NOW });
      const a = alice();
      const r = await ks.submit(withSignatures(a.cert, A, [bob.certify(a.cert, A, FLOOD_CREATED + 5)]), { now: NOW });
      assert.deepEqual(r.certs[0].kept, { userIds: 1, subkeys: 0, certifications: 1 });
      assert.equal(r.certs[0].held, 0);
      const sigs = sigsOn(await served(store, a.fpr), A);
      assert.ok(sigs.some((e) => e.sig?.issuerFingerprints.includes(bob.fpr)));
    } finally {
      await close();
    }
  });

  test('a certification by an unknown issuer is held aside, not served, and published when the issuer’s key arrives', async () => {
    const { ks, store, close } = await open();
    try {
      const a = alice();
      const cert = carol.certify(a.cert, A, FLOOD_CREATED + 5);
      const r = await ks.submit(withSignatures(a.cert, A, [cert]), { now: NOW });
      assert.equal(r.certs[0].held, 1);
      assert.equal(r.certs[0].kept.certifications, 0);
      assert.equal(sigsOn(await served(store, a.fpr), A).length, 1, 'not served');
      assert.equal(await store.held.count(a.fpr), 1);
      // A forgery in carol's name, held too, is not published when carol arrives.
      const fake = forged(carol.certify(a.cert, A, FLOOD_CREATED + 6));
      await ks.submit(withSignatures(a.cert, A, [fake]), { now: NOW });
      assert.equal(await store.held.count(a.fpr), 2);
      const rc = await ks.submit(carol.bytes, { now: NOW + 1 });
      assert.equal(rc.certs[0].released, 1);
      const sigs = sigsOn(await served(store, a.fpr), A);
      assert.equal(sigs.length, 2);
      assert.ok(sigs.some((e) => e.sig?.issuerFingerprints.includes(carol.fpr)));
      assert.equal(await store.held.count(a.fpr), 1, 'the forgery stays held (bounded), unpublished');
    } finally {
      await close();
    }
  });

  test('held aside at most maxHeld per certificate, the newest', async () => {
    const { ks, store, close } = await open({ maxHeld: 3 });
    try {
      const a = alice();
      const issuers = throwawayKeys('held', 0, 6);
      const certs = issuers.map((h, i) => h.certify(a.cert, A, FLOOD_CREATED + i));
      const r = await ks.submit(withSignatures(a.cert, A, certs), { now: NOW });
      assert.equal(r.certs[0].held, 3);
      assert.equal(r.certs[0].dropped['over budget'], 3);
      const held = await store.held.of(a.fpr);
      assert.deepEqual(
        held.map((h) => h.created),
        [FLOOD_CREATED + 5, FLOOD_CREATED + 4, FLOOD_CREATED + 3],
      );
    } finally {
      await close();
    }
  });

  test('budget: the newest certification per issuer and user ID', async () => {
    const { ks, store, close } = await open();
    try {
      await ks.submit(bob.bytes, { now: NOW });
      const a = alice();
      const older = bob.certify(a.cert, A, FLOOD_CREATED + 5);
      const newer = bob.certify(a.cert, A, FLOOD_CREATED + 50);
      const r = await ks.submit(withSignatures(a.cert, A, [older, newer]), { now: NOW });
      assert.equal(r.certs[0].dropped['superseded certification'], 1);
      const sigs = sigsOn(await served(store, a.fpr), A).filter((e) => e.sig?.issuerFingerprints.includes(bob.fpr));
      assert.deepEqual(
        sigs.map((e) => e.sig?.created),
        [FLOOD_CREATED + 50],
      );
      // The older one uploaded again later changes nothing.
      const again = await ks.submit(withSignatures(a.cert, A, [older]), { now: NOW + 1 });
      assert.equal(again.certs[0].status, 'unchanged');
    } finally {
      await close();
    }
  });

  test('budget: a held key’s many certifications of one user ID are not all verified (nor cached); its real one, stored before, stays', async () => {
    const { ks, store, close } = await open();
    try {
      const mallory = new Holder('mallory-many', ['Mallory <m@example.org>']);
      await ks.submit(Buffer.concat([bob.bytes, mallory.bytes]), { now: NOW });
      const a = alice();
      const real = bob.certify(a.cert, A, FLOOD_CREATED + 5);
      await ks.submit(withSignatures(a.cert, A, [real]), { now: NOW });
      const cached = await (store as SqliteStore).verifications.size();
      const many = Array.from({ length: 500 }, (_, i) => mallory.certify(a.cert, A, FLOOD_CREATED + 1000 + i));
      // Forgeries in bob's name, newer than his real certification.
      const fakes = Array.from({ length: 10 }, (_, i) => forged(bob.certify(a.cert, A, FLOOD_CREATED + 2000 + i)));
      const r = await ks.submit(withSignatures(a.cert, A, [...many, ...fakes]), { now: NOW + 1 });
      assert.equal(r.certs[0].dropped['superseded certification'], 497 + 7 + 2);
      assert.equal(r.certs[0].dropped['bad signature'], 3);
      assert.ok((await (store as SqliteStore).verifications.size()) - cached <= 3, 'at most 3 new outcomes cached');
      const issuers = sigsOn(await served(store, a.fpr), A).map((e) => `${e.sig?.issuerFingerprints[0]}:${e.sig?.created}`);
      assert.ok(issuers.includes(`${bob.fpr}:${FLOOD_CREATED + 5}`), 'bob’s real certification stays');
      assert.ok(issuers.includes(`${mallory.fpr}:${FLOOD_CREATED + 1499}`), 'mallory’s newest');
      assert.equal(issuers.length, 3);
    } finally {
      await close();
    }
  });

  test('budget: a count cap, issuers connected to other stored keys first', async () => {
    const { ks, store, close } = await open({ maxCertifications: 2 });
    try {
      // dave is connected: bob (stored) certified him. The throwaways are stored but certified by nobody.
      await ks.submit(bob.bytes, { now: NOW });
      const d = new Holder('dave', ['Dave <dave@example.org>']);
      await ks.submit(withSignatures(d.cert, 'Dave <dave@example.org>', [bob.certify(d.cert, 'Dave <dave@example.org>', FLOOD_CREATED + 1)]), { now: NOW });
      const throwaways = throwawayKeys('cap', 0, 4);
      await ks.submit(Buffer.concat(throwaways.map((t) => t.bytes)), { now: NOW });
      const a = alice();
      const sigs = [...throwaways.map((t, i) => t.certify(a.cert, A, FLOOD_CREATED + 100 + i)), dave.certify(a.cert, A, FLOOD_CREATED + 2)];
      const r = await ks.submit(withSignatures(a.cert, A, sigs), { now: NOW });
      assert.equal(r.certs[0].kept.certifications, 2);
      assert.equal(r.certs[0].dropped['over budget'], 3);
      const issuers = sigsOn(await served(store, a.fpr), A).flatMap((e) => e.sig?.issuerFingerprints ?? []);
      assert.ok(issuers.includes(dave.fpr), 'the connected issuer is kept though oldest');
      assert.ok(issuers.includes(throwaways[3].fpr), 'then the newest');
    } finally {
      await close();
    }
  });

  test('budget: a size cap on third-party certifications', async () => {
    const { ks, store, close } = await open({ maxCertificationBytes: 250 });
    try {
      const issuers = throwawayKeys('size', 0, 5);
      await ks.submit(Buffer.concat(issuers.map((t) => t.bytes)), { now: NOW });
      const a = alice();
      const r = await ks.submit(withSignatures(a.cert, A, issuers.map((t, i) => t.certify(a.cert, A, FLOOD_CREATED + i))), { now: NOW });
      // Each certification is about 119 bytes: two fit in 250.
      assert.equal(r.certs[0].kept.certifications, 2);
      assert.equal(sigsOn(await served(store, a.fpr), A).length, 3);
    } finally {
      await close();
    }
  });

  test('first-party attested certifications are always kept, over the budget, verified or not', async () => {
    const { ks, store, close } = await open({ maxCertifications: 0, maxHeld: 0 });
    try {
      await ks.submit(bob.bytes, { now: NOW });
      const a = alice();
      const byBob = bob.certify(a.cert, A, FLOOD_CREATED + 5);
      const byCarol = carol.certify(a.cert, A, FLOOD_CREATED + 6);
      const byDave = dave.certify(a.cert, A, FLOOD_CREATED + 7);
      const attestation = a.attest(A, [byBob, byCarol], FLOOD_CREATED + 8);
      const r = await ks.submit(withSignatures(a.cert, A, [byBob, byCarol, byDave, attestation]), { now: NOW });
      const sigs = sigsOn(await served(store, a.fpr), A);
      const issuers = sigs.flatMap((e) => e.sig?.issuerFingerprints ?? []);
      assert.ok(issuers.includes(bob.fpr), 'attested, known issuer');
      assert.ok(issuers.includes(carol.fpr), 'attested, unknown issuer');
      assert.ok(!issuers.includes(dave.fpr), 'not attested: over the budget (0)');
      assert.ok(sigs.some((e) => e.sig?.type === SigType.Attestation));
      assert.equal(r.certs[0].dropped['over budget'], 1);
      // An attestation forged by someone else attests nothing.
      const b2 = alice();
      const other = new Holder('mallory', [A]);
      const fake = other.attest(A, [dave.certify(b2.cert, A, FLOOD_CREATED + 9)], FLOOD_CREATED + 10);
      const r2 = await ks.submit(withSignatures(b2.cert, A, [dave.certify(b2.cert, A, FLOOD_CREATED + 9), fake]), { now: NOW + 1 });
      assert.ok(!sigsOn(await served(store, a.fpr), A).flatMap((e) => e.sig?.issuerFingerprints ?? []).includes(dave.fpr));
      assert.ok((r2.certs[0].dropped['bad signature'] ?? 0) + (r2.certs[0].dropped['misplaced signature'] ?? 0) + (r2.certs[0].dropped['unverifiable signature'] ?? 0) >= 1);
    } finally {
      await close();
    }
  });

  test('revocations and self-signatures are never trimmed by the budget', async () => {
    const { ks, store, close } = await open({ maxCertifications: 0, maxCertificationBytes: 0, maxHeld: 0 });
    try {
      await ks.submit(bob.bytes, { now: NOW });
      const a = new Holder('alice', [A, 'Alice Two <two@example.org>']);
      const cert = bob.certify(a.cert, A, FLOOD_CREATED + 5);
      const revokeCert = bob.certify(a.cert, A, FLOOD_CREATED + 6, { type: SigType.CertRevocation });
      const bytes = afterPrimary(withSignatures(a.cert, A, [cert, revokeCert]), a.revocation(FLOOD_CREATED + 7));
      await ks.submit(bytes, { now: NOW });
      const stored = await served(store, a.fpr);
      assert.equal(stored.users.length, 2);
      assert.ok(stored.directSigs.some((e) => e.sig?.type === SigType.KeyRevocation));
      assert.ok(sigsOn(stored, A).some((e) => e.sig?.type === SigType.CertRevocation));
      assert.ok(!sigsOn(stored, A).some((e) => e.sig?.type === SigType.GenericCert && e.sig.issuerFingerprints.includes(bob.fpr)));
      // A revocation of nothing (the issuer never certified that user ID) is not kept: stored keys cannot flood revocations.
      const carolRevokes = carol.certify(a.cert, A, FLOOD_CREATED + 8, { type: SigType.CertRevocation });
      await ks.submit(carol.bytes, { now: NOW });
      const r = await ks.submit(withSignatures(a.cert, A, [carolRevokes]), { now: NOW + 1 });
      assert.equal(r.certs[0].dropped['revocation of no certification'], 1);
      assert.ok(!sigsOn(await served(store, a.fpr), A).some((e) => e.sig?.issuerFingerprints.includes(carol.fpr)));
    } finally {
      await close();
    }
  });

  test('a revoker must be designated by the key itself: revocations under a forged designation are dropped, a real one is kept', async () => {
    const { ks, store, close } = await open();
    try {
      const a = alice();
      const designation = (revoker: Holder, signedBy: Holder, t: number) =>
        signV4({ kind: 'key', primary: a.primary }, { type: SigType.DirectKey, signer: a.primary, privateKey: signedBy.privateKey, hashed: [sp.created(t), sp.issuerFingerprint(a.primary), sp.revocationKey(revoker.primary)] }).packet.raw;
      const revocationBy = (revoker: Holder, t: number) =>
        signV4({ kind: 'key', primary: a.primary }, { type: SigType.KeyRevocation, signer: revoker.primary, privateKey: revoker.privateKey, hashed: [sp.created(t), sp.issuerFingerprint(revoker.primary)] }).packet.raw;
      await ks.submit(bob.bytes, { now: NOW });
      await ks.submit(carol.bytes, { now: NOW });
      await ks.submit(a.bytes, { now: NOW });
      // Bob forges Alice's designation of himself (signed with his key, naming hers as issuer) and revokes her key many times.
      const forgedBundle = [designation(bob, bob, FLOOD_CREATED + 10), ...Array.from({ length: 20 }, (_, i) => revocationBy(bob, FLOOD_CREATED + 20 + i))];
      const r = await ks.submit(afterPrimary(a.bytes, Buffer.concat(forgedBundle)), { now: NOW + 1 });
      assert.equal(r.certs[0].status, 'unchanged');
      assert.equal(r.certs[0].dropped['bad signature'], 21, 'the forged designation and every revocation under it');
      assert.equal((await served(store, a.fpr)).directSigs.length, 0);
      // Alice really designates Carol: Carol's revocation is kept and the key reads as revoked.
      const real = afterPrimary(a.bytes, Buffer.concat([designation(carol, a, FLOOD_CREATED + 30), revocationBy(carol, FLOOD_CREATED + 31)]));
      assert.equal((await ks.submit(real, { now: NOW + 2 })).certs[0].status, 'updated');
      const stored = await served(store, a.fpr);
      assert.ok(stored.directSigs.some((e) => e.sig?.type === SigType.KeyRevocation && e.sig.issuerFingerprints.includes(carol.fpr)));
      const summary = (await ks.summaries.of([(await store.certs.get(a.fpr))!], NOW + 3))[0];
      assert.equal(summary.revoked, true);
    } finally {
      await close();
    }
  });

  test('a revoked key stays revoked: the unrevoked copy uploaded later, or duplicated packets, change nothing', async () => {
    const { ks, store, close } = await open();
    try {
      const a = alice();
      const clean = a.bytes;
      const rev = a.revocation(FLOOD_CREATED + 7);
      await ks.submit(afterPrimary(clean, rev), { now: NOW });
      const r = await ks.submit(clean, { now: NOW + 1 });
      assert.equal(r.certs[0].status, 'unchanged');
      // The same user ID and signatures again, re-encoded with old-format headers.
      const old = Buffer.concat(a.cert.packets.map((p) => encodeOldPacket(p.tag, p.body)));
      const r2 = await ks.submit(Buffer.concat([old, clean]), { now: NOW + 2 });
      assert.equal(r2.certs[0].status, 'unchanged');
      const stored = await served(store, a.fpr);
      assert.ok(stored.directSigs.some((e) => e.sig?.type === SigType.KeyRevocation));
      assert.equal(stored.users.length, 1);
      assert.equal(sigsOn(stored, A).length, 1);
    } finally {
      await close();
    }
  });

  test('the original packet bytes are stored and served', async () => {
    const { ks, store, close } = await open();
    try {
      const a = alice();
      // gpg writes old-format headers; they are kept as sent.
      const old = Buffer.concat(a.cert.packets.map((p) => encodeOldPacket(p.tag, p.body)));
      await ks.submit(Buffer.from(armor('PUBLIC KEY BLOCK', old)), { now: NOW });
      assert.deepEqual((await store.certs.get(a.fpr))?.bytes, old);
    } finally {
      await close();
    }
  });

  test('a bare key revocation merges into the stored key; one of an unknown key is refused', async () => {
    const { ks, store, close } = await open();
    try {
      const a = alice();
      await ks.submit(a.bytes, { now: NOW });
      const rev = a.revocation(FLOOD_CREATED + 7);
      const r = await ks.submit(Buffer.from(armor('PUBLIC KEY BLOCK', rev)), { now: NOW + 1 });
      assert.equal(r.certs[0].status, 'updated');
      assert.ok((await served(store, a.fpr)).directSigs.some((e) => e.sig?.type === SigType.KeyRevocation));
      await assert.rejects(ks.submit(carol.revocation(FLOOD_CREATED + 7), { now: NOW + 2 }), (e: unknown) => e instanceof InputError && e.code === 'MS_KS_UNPARSEABLE');
      // A forged bare revocation is dropped, not stored.
      const b = new Holder('bob2', ['Bob Two <b2@example.org>']);
      await ks.submit(b.bytes, { now: NOW });
      const rf = await ks.submit(forged(b.revocation(FLOOD_CREATED + 7)), { now: NOW + 3 });
      assert.equal(rf.certs[0].status, 'unchanged');
      assert.equal(rf.certs[0].dropped['bad signature'], 1);
    } finally {
      await close();
    }
  });

  test('a bare subkey revocation merges onto the subkey it revokes', async () => {
    const { ks, store, close } = await open();
    try {
      const p = new Person(['Sam <sam@example.org>'], { created: FLOOD_CREATED });
      await ks.submit(Buffer.concat(p.cert.packets.map((x) => x.raw)), { now: NOW });
      const revoked = p.revokeSubkey(FLOOD_CREATED + 9);
      const sig = revoked.subkeys[0].signatures.find((e) => e.sig?.type === SigType.SubkeyRevocation)!;
      const r = await ks.submit(Buffer.from(armor('PUBLIC KEY BLOCK', sig.packet.raw)), { now: NOW + 1 });
      assert.equal(r.certs[0].status, 'updated');
      const stored = await served(store, p.fpr);
      assert.ok(stored.subkeys[0].signatures.some((e) => e.sig?.type === SigType.SubkeyRevocation));
      assert.equal(stored.directSigs.length, 0);
    } finally {
      await close();
    }
  });

  test('unparseable and oversized uploads: MS_KS_UNPARSEABLE and MS_KS_TOO_LARGE', async () => {
    const { ks, close } = await open({ maxUploadBytes: 200_000, maxUploadCerts: 2 });
    try {
      const code = (c: string) => (e: unknown) => e instanceof MsError && e.code === c;
      await assert.rejects(ks.submit(Buffer.from('hello, not a key'), { now: NOW }), code('MS_KS_UNPARSEABLE'));
      await assert.rejects(ks.submit(Buffer.alloc(0), { now: NOW }), code('MS_KS_UNPARSEABLE'));
      await assert.rejects(ks.submit(Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n'), { now: NOW }), code('MS_KS_UNPARSEABLE'));
      const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff));
      random[0] = 0x99;
      await assert.rejects(ks.submit(random, { now: NOW }), (e: unknown) => e instanceof MsError && (e.code === 'MS_KS_UNPARSEABLE' || e.code === 'MS_KS_TOO_LARGE'));
      await assert.rejects(ks.submit(Buffer.alloc(200_001, 0x41), { now: NOW }), code('MS_KS_TOO_LARGE'));
      // A 100 KB user ID: over the packet cap.
      const a = alice();
      const bigUid = Buffer.concat([Buffer.from([0xcd, 0xff]), Buffer.from([0, 1, 0x86, 0xa0]), Buffer.alloc(100_000, 0x61)]);
      await assert.rejects(ks.submit(Buffer.concat([a.bytes, bigUid]), { now: NOW }), code('MS_KS_TOO_LARGE'));
      await assert.rejects(ks.submit(Buffer.concat([a.bytes, bob.bytes, carol.bytes]), { now: NOW }), code('MS_KS_TOO_LARGE'));
    } finally {
      await close();
    }
  });

  test('rate limits: per client (MS_KS_RATE_LIMITED with a retry time) and per certificate (rate-limited)', async () => {
    const { ks, store, close } = await open({ clientUploads: 2, clientWindow: 60, certUpdates: 1, certWindow: 3600 });
    try {
      const a = alice();
      await ks.submit(a.bytes, { now: NOW, client: '192.0.2.1' });
      await ks.submit(bob.bytes, { now: NOW + 1, client: '192.0.2.1' });
      await assert.rejects(ks.submit(carol.bytes, { now: NOW + 2, client: '192.0.2.1' }), (e: unknown) => e instanceof MsError && e.code === 'MS_KS_RATE_LIMITED' && e.data.retryAfter === 58);
      // Another client is not limited; the window passes.
      await ks.submit(carol.bytes, { now: NOW + 2, client: '192.0.2.2' });
      // alice changed once (inserted): a second change within the hour is refused, her stored copy stays.
      const r = await ks.submit(withSignatures(a.cert, A, [bob.certify(a.cert, A, FLOOD_CREATED + 5)]), { now: NOW + 61, client: '192.0.2.1' });
      assert.equal(r.certs[0].status, 'rate-limited');
      assert.equal(sigsOn(await served(store, a.fpr), A).length, 1);
      const later = await ks.submit(withSignatures(a.cert, A, [bob.certify(a.cert, A, FLOOD_CREATED + 5)]), { now: NOW + 3601 });
      assert.equal(later.certs[0].status, 'updated');
    } finally {
      await close();
    }
  });

  test('a full window never holds back the owner: others fill it, her revocation still lands, their certifications do not', async () => {
    const { ks, store, close } = await open({ certUpdates: 2, certWindow: 3600 });
    try {
      const a = alice();
      await ks.submit(bob.bytes, { now: NOW });
      await ks.submit(carol.bytes, { now: NOW });
      await ks.submit(a.bytes, { now: NOW });
      // Bob's certification fills Alice's window (inserted, then one change).
      const bobCertifies = bob.certify(a.cert, A, FLOOD_CREATED + 5);
      assert.equal((await ks.submit(withSignatures(a.cert, A, [bobCertifies]), { now: NOW + 1 })).certs[0].status, 'updated');
      const flood = await ks.submit(withSignatures(a.cert, A, [carol.certify(a.cert, A, FLOOD_CREATED + 6)]), { now: NOW + 2 });
      assert.equal(flood.certs[0].status, 'rate-limited');
      assert.equal(flood.certs[0].retryAfter, 3600 - 2, 'until the first change of the window leaves it');
      assert.equal(flood.certs[0].dropped['certification over the update window'], 1);
      assert.ok(!sigsOn(await served(store, a.fpr), A).some((e) => e.sig?.issuerFingerprints.includes(carol.fpr)), "Carol's certification is not taken");
      // The served copy uploaded again (what gpg --send-keys does) is unchanged, nothing counted as over the window.
      const again = await ks.submit((await store.certs.get(a.fpr))!.bytes, { now: NOW + 3 });
      assert.equal(again.certs[0].status, 'unchanged');
      assert.deepEqual(again.certs[0].dropped, {});
      // Bob may still revoke the certification he made.
      const bobRevokes = bob.certify(a.cert, A, FLOOD_CREATED + 7, { type: SigType.CertRevocation });
      assert.equal((await ks.submit(withSignatures(a.cert, A, [bobRevokes]), { now: NOW + 4 })).certs[0].status, 'updated');
      assert.ok(sigsOn(await served(store, a.fpr), A).some((e) => e.sig?.type === SigType.CertRevocation && e.sig.issuerFingerprints.includes(bob.fpr)));
      // ... once: a newer revocation replacing it would be one more change, over and over.
      const bobRevokesAgain = await ks.submit(withSignatures(a.cert, A, [bob.certify(a.cert, A, FLOOD_CREATED + 8, { type: SigType.CertRevocation })]), { now: NOW + 4 });
      assert.equal(bobRevokesAgain.certs[0].status, 'rate-limited');
      assert.equal(sigsOn(await served(store, a.fpr), A).filter((e) => e.sig?.type === SigType.CertRevocation).length, 1);
      // Alice attests Carol's certification (1PA3PC): both are taken, over the window.
      const carolCertifies = carol.certify(a.cert, A, FLOOD_CREATED + 8);
      const attested = await ks.submit(withSignatures(a.cert, A, [carolCertifies, a.attest(A, [carolCertifies], FLOOD_CREATED + 9)]), { now: NOW + 5 });
      assert.equal(attested.certs[0].status, 'updated');
      assert.ok(sigsOn(await served(store, a.fpr), A).some((e) => e.sig?.type === SigType.GenericCert && e.sig.issuerFingerprints.includes(carol.fpr)));
      // Alice revokes her key, in a copy that also carries Dave's certification: the revocation lands, the certification does not.
      await ks.submit(dave.bytes, { now: NOW });
      const withRevocation = afterPrimary(withSignatures(a.cert, A, [dave.certify(a.cert, A, FLOOD_CREATED + 10)]), a.revocation(FLOOD_CREATED + 11));
      const r = await ks.submit(withRevocation, { now: NOW + 6 });
      assert.equal(r.certs[0].status, 'updated');
      assert.equal(r.certs[0].dropped['certification over the update window'], 1);
      const stored = await served(store, a.fpr);
      assert.ok(stored.directSigs.some((e) => e.sig?.type === SigType.KeyRevocation), 'the revocation is served');
      assert.ok(!sigsOn(stored, A).some((e) => e.sig?.issuerFingerprints.includes(dave.fpr)));
      // A bare revocation is taken too, the window still full; a forged one is not.
      const b = new Holder('bare-revoker', ['Eve <eve@example.org>']);
      await ks.submit(b.bytes, { now: NOW });
      await ks.submit(withSignatures(b.cert, 'Eve <eve@example.org>', [bob.certify(b.cert, 'Eve <eve@example.org>', FLOOD_CREATED + 5)]), { now: NOW + 1 });
      assert.equal((await ks.submit(forged(b.revocation(FLOOD_CREATED + 9)), { now: NOW + 2 })).certs[0].status, 'unchanged');
      assert.equal((await ks.submit(b.revocation(FLOOD_CREATED + 9), { now: NOW + 3 })).certs[0].status, 'updated');
      assert.ok((await served(store, b.fpr)).directSigs.some((e) => e.sig?.type === SigType.KeyRevocation));
    } finally {
      await close();
    }
  });

  test('held certifications do not get round the window: none is held over it, and a release counts as a change', async () => {
    const { ks, store, close } = await open({ certUpdates: 2, certWindow: 3600 });
    try {
      const a = alice();
      const thirdParty = async () => sigsOn(await served(store, a.fpr), A).filter((e) => !e.sig?.issuerFingerprints.includes(a.fpr)).length;
      await ks.submit(a.bytes, { now: NOW });
      const keys = throwawayKeys('window-held', 0, 6);
      // One upload: Alice certified by a key the server does not hold yet, then that key. Held, then released: a change.
      for (let i = 0; i < 5; i++) {
        const k = keys[i];
        await ks.submit(Buffer.concat([withSignatures(a.cert, A, [k.certify(a.cert, A, FLOOD_CREATED + 100 + i)]), k.bytes]), { now: NOW + 1 + i });
      }
      assert.equal(await thirdParty(), 1, 'inserted, one release: the window of 2 is full after the first round');
      // Over the window nothing is held aside for later either.
      const r = await ks.submit(withSignatures(a.cert, A, [keys[5].certify(a.cert, A, FLOOD_CREATED + 200)]), { now: NOW + 10 });
      assert.equal(r.certs[0].status, 'rate-limited');
      assert.equal(r.certs[0].held, 0);
      await ks.submit(keys[5].bytes, { now: NOW + 11 });
      assert.equal(await thirdParty(), 1);
      // An hour on, the window has room again.
      const later = await ks.submit(Buffer.concat([withSignatures(a.cert, A, [keys[5].certify(a.cert, A, FLOOD_CREATED + 300)])]), { now: NOW + 3700 });
      assert.equal(later.certs[0].status, 'updated');
      assert.equal(await thirdParty(), 2);
    } finally {
      await close();
    }
  });

  test('delete and the blocklist: later uploads cannot bring a blocked key back', async () => {
    const { ks, store, close } = await open();
    try {
      const a = alice();
      await ks.submit(a.bytes, { now: NOW });
      assert.equal(await ks.delete(a.fpr.toLowerCase(), { now: NOW + 1, block: true, reason: 'takedown request' }), true);
      assert.equal(await store.certs.get(a.fpr), undefined);
      assert.deepEqual(await ks.blocklist(), [{ fpr: a.fpr, reason: 'takedown request', since: NOW + 1 }]);
      const r = await ks.submit(a.bytes, { now: NOW + 2 });
      assert.equal(r.certs[0].status, 'blocked');
      assert.equal(await store.certs.get(a.fpr), undefined);
      await ks.block(bob.fpr, 'spam', NOW + 3);
      assert.equal((await ks.blocklist()).length, 2);
      // Deleting a blocked key again without a reason keeps its entry as it was; a new reason replaces the old, not the date.
      await ks.delete(a.fpr, { now: NOW + 3, block: true });
      assert.deepEqual((await ks.blocklist()).find((b) => b.fpr === a.fpr), { fpr: a.fpr, reason: 'takedown request', since: NOW + 1 });
      await ks.delete(a.fpr, { now: NOW + 3, block: true, reason: 'court order' });
      assert.deepEqual((await ks.blocklist()).find((b) => b.fpr === a.fpr), { fpr: a.fpr, reason: 'court order', since: NOW + 1 });
      assert.equal(await ks.unblock(a.fpr, NOW + 4), true);
      assert.equal(await ks.unblock(a.fpr, NOW + 4), false);
      assert.equal((await ks.submit(a.bytes, { now: NOW + 5 })).certs[0].status, 'inserted');
      assert.equal(await ks.delete(carol.fpr, { now: NOW + 6 }), false);
      await assert.rejects(ks.delete('ABCD', { now: NOW }), (e: unknown) => e instanceof InputError && e.code === 'MS_PGP_FINGERPRINT');
    } finally {
      await close();
    }
  });
});
