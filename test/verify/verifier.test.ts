/**
 * The batch Verifier: its results equal a plain one-by-one reference (concatenate the signed chunks,
 * hash, check the left 16 bits, verify) on the gpg fixture ring and on a sample of the Debian keyring,
 * whichever way it runs (main thread, libuv thread pool); corrupted and transplanted
 * signatures are bad every way, and the cache (memory or SQLite) never answers for a transplant.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Keyring } from '../../src/keyring/keyring.js';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import { encodePacket, Tag } from '../../src/openpgp/packets.js';
import { hashName, signedChunks, signedDigest } from '../../src/openpgp/signed-data.js';
import { parseSignature, type Signature } from '../../src/openpgp/signature.js';
import { keySpki, nodeSignature, verifyPrepared } from '../../src/openpgp/verify.js';
import { SqliteDatabase, SqliteVerificationCache } from '../../src/store/sqlite/index.js';
import { CheckMemo, MemoryVerificationCache, type VerificationCache } from '../../src/verify/cache.js';
import { certificationChecks } from '../../src/verify/checks.js';
import { type CheckRunner, type SigCheck, Verifier, type VerifierOptions } from '../../src/verify/verifier.js';
import { DEBIAN_KEYRING, fixtureCert, findIssuer, keyIndex, locatedSigs } from '../openpgp/fixtures.js';

const NOW = new Date('2023-01-15T00:00:00Z');
const FIXTURE_RING = new URL('../fixtures/certs/all.pgp', import.meta.url).pathname;

/** The plain algorithm the Verifier must agree with, one check at a time. */
function reference(check: SigCheck): boolean {
  const { issuer, sig, target } = check;
  if (sig.pubAlgorithm !== issuer.algorithm && !(issuer.algorithm === 1 && sig.pubAlgorithm === 3)) return false;
  let hash: string;
  let node: ReturnType<typeof nodeSignature>;
  let der: Buffer;
  try {
    hash = hashName(sig);
    node = nodeSignature(issuer, sig);
    der = keySpki(issuer);
  } catch {
    return false;
  }
  const data = Buffer.concat(signedChunks(sig, target));
  const digest = signedDigest(sig, [data]);
  if (digest[0] !== sig.left16[0] || digest[1] !== sig.left16[1]) return false;
  return verifyPrepared(createPublicKey({ key: der, format: 'der', type: 'spki' }), node.mode, hash, data, digest, node.value);
}

/** Every signature of the fixture ring (self-signatures, certifications, bindings, revocations) with its issuer. */
function fixtureChecks(): SigCheck[] {
  const certs = readCerts(readFileSync(FIXTURE_RING)).certs;
  const keys = keyIndex(certs);
  const out: SigCheck[] = [];
  for (const c of certs) {
    for (const s of locatedSigs(c)) {
      const issuer = findIssuer(s.sig, keys);
      if (issuer) out.push({ issuer, sig: s.sig, target: s.target });
    }
  }
  return out;
}

/** The signature re-parsed from its packet with one byte of the body changed. */
function corrupt(sig: Signature, at: (body: Buffer) => number): Signature {
  const body = Buffer.from(sig.packet.body);
  body[at(body)] ^= 0x01;
  const raw = encodePacket(Tag.Signature, body);
  return parseSignature({ tag: Tag.Signature, offset: 0, raw, body: raw.subarray(raw.length - body.length) });
}
const lastByte = (b: Buffer) => b.length - 1;
/** A byte inside a v4 hashed subpacket area (every one here is longer than 6 bytes). */
const hashedByte = (b: Buffer) => {
  assert.ok(b.readUInt16BE(4) > 6);
  return 6 + 6;
};

/** A runner as bulk import's workers are one: copies the chunk at once, verifies it later. */
const laterRunner: CheckRunner = (ready) => {
  const copies = ready.map((c) => ({ ...c, input: Buffer.from(c.input), value: Buffer.from(c.value) }));
  return new Promise((resolve) => setTimeout(() => resolve(copies.map((c) => verifyPrepared(c.keyObject, c.mode, c.hash, c.input, c.input, c.value))), 1));
};

const MODES: Record<string, () => VerifierOptions> = {
  'main thread': () => ({ inlineThreshold: Number.POSITIVE_INFINITY }),
  'libuv thread pool': () => ({ inlineThreshold: 0, chunkSize: 5, maxInFlight: 12 }),
  runner: () => ({ inlineThreshold: 0, chunkSize: 5, maxInFlight: 12, runner: laterRunner }),
};

describe('Verifier', () => {
  const checks = fixtureChecks();
  const expected = checks.map(reference);

  test('the fixture ring gives every kind of target, all good', () => {
    assert.ok(checks.length >= 50, `${checks.length} checks`);
    assert.deepEqual(new Set(checks.map((c) => c.target.kind)), new Set(['key', 'user', 'subkey']));
    assert.deepEqual(expected, checks.map(() => true));
  });

  for (const [mode, options] of Object.entries(MODES)) {
    test(`${mode}: same results as the reference on every fixture signature`, async () => {
      const v = new Verifier(options());
      assert.deepEqual(await v.verify(checks), expected);
      assert.equal(v.stats.verified + v.stats.rejectedEarly, checks.length);
      assert.equal(v.stats.cached, 0);
    });

    test(`${mode}: corrupted signatures are bad`, async () => {
      const good = checks.filter((_, i) => expected[i]);
      const broken = good.flatMap((c) => [
        { ...c, sig: corrupt(c.sig, lastByte) },
        { ...c, sig: corrupt(c.sig, hashedByte) },
      ]);
      const v = new Verifier(options());
      const results = await v.verify([...broken, ...good]);
      assert.deepEqual(results, [...broken.map(() => false), ...good.map(() => true)]);
      assert.deepEqual(broken.map(reference), broken.map(() => false));
    });
  }

  test('no checks, no work', async () => {
    const v = new Verifier({ cache: new MemoryVerificationCache() });
    assert.deepEqual(await v.verify([]), []);
    assert.deepEqual(v.stats, { verified: 0, cached: 0, rejectedEarly: 0 });
  });

  test('an issuer of another algorithm fails before any cryptography', async () => {
    const alice = fixtureCert('alice');
    const bob = fixtureCert('bob');
    const cert = bob.users[0].signatures.find((s) => s.sig?.issuerFingerprints.includes(alice.primary.fpr))!.sig!;
    const encryptionSubkey = alice.subkeys.find((s) => s.key.algorithm === 18)!.key;
    const v = new Verifier();
    const target = { kind: 'user' as const, primary: bob.primary, user: bob.users[0].packet };
    assert.deepEqual(await v.verify([{ issuer: encryptionSubkey, sig: cert, target }, { issuer: alice.primary, sig: cert, target }]), [false, true]);
    assert.equal(v.stats.rejectedEarly, 1);
  });

  test('a certification transplanted onto another user ID is bad and never a cache hit', async () => {
    const alice = fixtureCert('alice');
    const bob = fixtureCert('bob');
    const uma = fixtureCert('uid-revoked');
    const onBob = bob.users[0].signatures.find((s) => s.sig?.issuerFingerprints.includes(alice.primary.fpr))!.sig!;
    const cache = new MemoryVerificationCache();
    const first = new Verifier({ cache });
    assert.deepEqual(await first.verify([{ issuer: alice.primary, sig: onBob, target: { kind: 'user', primary: bob.primary, user: bob.users[0].packet } }]), [true]);
    const second = new Verifier({ cache });
    const transplanted: SigCheck[] = [
      // Same key, another user ID; another key, its own user ID; another key with bob's user ID.
      { issuer: alice.primary, sig: onBob, target: { kind: 'user', primary: uma.primary, user: uma.users[0].packet } },
      { issuer: alice.primary, sig: onBob, target: { kind: 'user', primary: uma.primary, user: uma.users[1].packet } },
      { issuer: alice.primary, sig: onBob, target: { kind: 'user', primary: uma.primary, user: bob.users[0].packet } },
    ];
    assert.deepEqual(await second.verify(transplanted), [false, false, false]);
    assert.equal(second.stats.cached, 0);
  });

  test('a memo answers checks of the same parsed objects before anything is hashed, and no others', async () => {
    const memo = new CheckMemo();
    const cold = new Verifier({ memo, inlineThreshold: 0 });
    assert.deepEqual(await cold.verify(checks), expected);
    const warm = new Verifier({ cache: { memo, lookup: async () => assert.fail('looked up'), record: async () => assert.fail('recorded') } });
    assert.deepEqual(await warm.verify(checks), expected);
    assert.deepEqual(warm.stats, { verified: 0, cached: checks.length, rejectedEarly: 0 });
    // The same signature on other objects (another user ID; its own user ID parsed again) is verified, not answered.
    const alice = fixtureCert('alice');
    const bob = fixtureCert('bob');
    const onBob = bob.users[0].signatures.find((s) => s.sig?.issuerFingerprints.includes(alice.primary.fpr))!.sig!;
    const seen = new Verifier({ memo });
    assert.deepEqual(await seen.verify([{ issuer: alice.primary, sig: onBob, target: { kind: 'user', primary: bob.primary, user: bob.users[0].packet } }]), [true]);
    const again = new Verifier({ memo });
    const bobAgain = fixtureCert('bob');
    const moved: SigCheck[] = [
      { issuer: alice.primary, sig: onBob, target: { kind: 'user', primary: bob.primary, user: bob.users[0].packet } },
      { issuer: alice.primary, sig: onBob, target: { kind: 'user', primary: bobAgain.primary, user: bobAgain.users[0].packet } },
      { issuer: alice.primary, sig: onBob, target: { kind: 'user', primary: alice.primary, user: alice.users[0].packet } },
    ];
    assert.deepEqual(await again.verify(moved), [true, true, false]);
    assert.equal(again.stats.cached, 1);
    assert.equal(again.stats.verified + again.stats.rejectedEarly, 2);
  });

  test('a second run is answered by the cache, with the same results', async () => {
    const cache = new MemoryVerificationCache();
    const cold = new Verifier({ cache, inlineThreshold: 0 });
    assert.deepEqual(await cold.verify(checks), expected);
    const warm = new Verifier({ cache });
    assert.deepEqual(await warm.verify(checks), expected);
    assert.equal(warm.stats.verified, 0);
    assert.equal(warm.stats.cached, cold.stats.verified);
    assert.equal(warm.stats.rejectedEarly, cold.stats.rejectedEarly);
  });

  for (const [mode, options] of Object.entries(MODES)) {
    test(`${mode}: concurrent calls on one Verifier, interleaved by a slow cache, keep their own data`, async () => {
      const memory = new MemoryVerificationCache();
      const slow: VerificationCache = {
        lookup: async (keys) => {
          await new Promise((resolve) => setTimeout(resolve, 1));
          return memory.lookup(keys);
        },
        record: (entries) => memory.record(entries),
      };
      const v = new Verifier({ ...options(), cache: slow, chunkSize: 4 });
      const half = Math.floor(checks.length / 2);
      const a = checks.slice(0, half);
      const b = [...checks.slice(half)].reverse();
      const broken = checks.slice(0, 10).map((c) => ({ ...c, sig: corrupt(c.sig, lastByte) }));
      const [ra, rb, rc] = await Promise.all([v.verify(a), v.verify(b), v.verify(broken)]);
      assert.deepEqual(ra, expected.slice(0, half));
      assert.deepEqual(rb, [...expected.slice(half)].reverse());
      assert.deepEqual(rc, broken.map(() => false));
    });
  }

  test('the SQLite cache answers after the database is closed and reopened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-verify-'));
    try {
      const path = join(dir, 'cache.sqlite');
      let db = SqliteDatabase.open(path);
      const cold = new Verifier({ cache: new SqliteVerificationCache(db) });
      assert.deepEqual(await cold.verify(checks), expected);
      db.close();
      db = SqliteDatabase.open(path);
      const warm = new Verifier({ cache: new SqliteVerificationCache(db) });
      assert.deepEqual(await warm.verify(checks), expected);
      assert.equal(warm.stats.verified, 0);
      assert.equal(warm.stats.cached, cold.stats.verified);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Verifier on the Debian keyring (a sample)', () => {
  const certs: Cert[] = readCerts(readFileSync(DEBIAN_KEYRING)).certs;
  const all = certificationChecks(new Keyring(certs), Math.floor(NOW.getTime() / 1000));
  // Every 16th in-ring certification, and a corrupted copy of every 160th.
  const sample: SigCheck[] = all.filter((_, i) => i % 16 === 0);
  const broken = all.filter((_, i) => i % 160 === 0).map((c) => ({ ...c, sig: corrupt(c.sig, lastByte) }));
  const work = [...sample, ...broken];
  const expected = work.map(reference);

  test('the in-ring certifications are those of the survey', () => {
    assert.equal(all.length, 34431);
    assert.deepEqual(expected.slice(sample.length), broken.map(() => false));
  });

  for (const [mode, options] of Object.entries(MODES)) {
    test(`${mode}: same results as the reference`, async () => {
      assert.deepEqual(await new Verifier(options()).verify(work), expected);
    });
  }
});
