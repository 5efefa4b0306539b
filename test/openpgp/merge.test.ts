/**
 * mergeCerts against gpg's import merge, and its algebra (idempotent, commutative,
 * associative as packet sets).
 *
 * How we compare with gpg: gpg stores and exports a merged keyblock in its own order
 * (it may put a new user ID first, or a revocation before a binding), so both results
 * are reduced to a CertShape (fixtures.ts): the primary key, the set of direct-key
 * signatures, and per user ID (by body) and per subkey (by fingerprint) the set of
 * signature bodies. Two certificates are "the same" when their shapes are deepEqual:
 * same user IDs, same subkeys, same signatures on each component, order ignored.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InputError } from '../../src/errors.js';
import { type Cert, readCerts, type SigEntry, writeCert } from '../../src/openpgp/cert.js';
import { mergeCerts } from '../../src/openpgp/merge.js';
import { encodePacket, type Packet } from '../../src/openpgp/packets.js';
import { GpgHome } from '../helpers/gpg.js';
import { CERTS_DIR, certShape, fixtureBytes, fixtureCert, INDEX, NAMES, prng } from './fixtures.js';

const readOne = (bytes: Buffer): Cert => {
  const { certs, problems } = readCerts(bytes);
  assert.deepEqual(
    problems.map((p) => p.message),
    [],
  );
  assert.equal(certs.length, 1);
  return certs[0];
};

/**
 * A copy of `cert` keeping each signature with probability 1/2, except the first
 * self-signature of each user ID and subkey (gpg would drop a component without a
 * valid binding on import, and that is import policy, not merging).
 */
function randomCopy(cert: Cert, rand: () => number): Cert {
  const keep = (sigs: SigEntry[], binding: boolean): Packet[] => {
    const kept = binding ? firstSelf(cert, sigs) : -1;
    return sigs.filter((_, i) => i === kept || rand() < 0.5).map((s) => s.packet);
  };
  const packets: Packet[] = [cert.primary.packet, ...keep(cert.directSigs, false)];
  for (const u of cert.users) packets.push(u.packet, ...keep(u.signatures, true));
  for (const s of cert.subkeys) packets.push(s.key.packet, ...keep(s.signatures, true));
  return readOne(Buffer.concat(packets.map((p) => p.raw)));
}

function firstSelf(cert: Cert, sigs: SigEntry[]): number {
  return sigs.findIndex((s) => s.sig?.issuerKeyIds.includes(cert.primary.keyId) && s.sig.type !== 0x30 && s.sig.type !== 0x28);
}

/** The same certificate with every packet re-encoded with a new-format header (gpg 2.2 writes old-format). */
function reencoded(cert: Cert): Cert {
  return readOne(Buffer.concat(cert.packets.map((p) => encodePacket(p.tag, p.body))));
}

/** What gpg holds after importing each copy in turn, read back with readCerts. */
function gpgMerge(copies: Cert[]): Cert {
  const gpg = new GpgHome();
  try {
    copies.forEach((c, i) => {
      const file = join(gpg.dir, `copy-${i}.pgp`);
      writeFileSync(file, writeCert(c));
      gpg.ok(['--import-options', 'import-local-sigs', '--import', file]);
    });
    return readOne(gpg.ok(['--export', '--export-options', 'export-local-sigs', copies[0].primary.fpr]).stdoutBytes);
  } finally {
    gpg.cleanup();
  }
}

describe('mergeCerts equals gpg import', () => {
  test('dave.pgp + merge/dave-b.pgp: new user ID, new subkey, certifications from two keyrings', () => {
    const a = fixtureCert('dave');
    const b = readOne(fixtureBytes('merge/dave-b'));
    const merged = mergeCerts(a, b);
    const shape = certShape(merged);
    // The fixture is what it claims: a second user ID, a second subkey, bob's and carol's certifications.
    assert.equal(Object.keys(shape.users).length, 2);
    assert.equal(Object.keys(shape.subkeys).length, 2);
    const daveOrg = merged.users.find((u) => u.text === 'Dave <dave@example.org>')!;
    assert.deepEqual(
      daveOrg.signatures.map((s) => s.sig?.issuerFingerprints[0]).sort(),
      [INDEX.dave.fpr, INDEX.carol.fpr, INDEX.bob.fpr].sort(),
    );
    assert.deepEqual(shape, certShape(gpgMerge([a, b])));
    assert.deepEqual(certShape(mergeCerts(b, a)), certShape(gpgMerge([b, a])));
  });

  test('merge/renewed-old.pgp + merge/renewed-new.pgp = renewed.pgp (two self-signatures)', () => {
    const oldCopy = readOne(fixtureBytes('merge/renewed-old'));
    const newCopy = readOne(fixtureBytes('merge/renewed-new'));
    assert.equal(oldCopy.users[0].signatures.length, 1);
    assert.equal(newCopy.users[0].signatures.length, 1);
    const merged = mergeCerts(newCopy, oldCopy);
    assert.equal(merged.users[0].signatures.length, 2);
    assert.deepEqual(certShape(merged), certShape(fixtureCert('renewed')));
    assert.deepEqual(certShape(merged), certShape(gpgMerge([newCopy, oldCopy])));
  });

  test('random halves of every fixture merge like gpg merges them', () => {
    const rand = prng(20230115);
    let differing = 0;
    for (const name of NAMES) {
      const cert = fixtureCert(name);
      const a = randomCopy(cert, rand);
      const b = randomCopy(cert, rand);
      if (writeCert(a).compare(writeCert(b)) !== 0) differing++;
      const ours = certShape(mergeCerts(a, b));
      assert.deepEqual(ours, certShape(gpgMerge([a, b])), name);
    }
    // The halves really differ for most fixtures, so this compares merges, not copies.
    assert.ok(differing > NAMES.length / 2, `${differing} of ${NAMES.length} pairs differ`);
  });

  test('old- and new-format headers of the same packets do not duplicate anything', () => {
    for (const name of ['bob', 'carol', 'uid-revoked', 'subkeys']) {
      const cert = fixtureCert(name);
      const merged = mergeCerts(cert, reencoded(cert));
      assert.deepEqual(certShape(merged), certShape(cert), name);
      assert.ok(writeCert(merged).equals(writeCert(cert)), `${name}: a's bytes are kept`);
      assert.deepEqual(certShape(merged), certShape(gpgMerge([cert, reencoded(cert)])), name);
    }
  });
});

describe('mergeCerts algebra', () => {
  test('idempotent: merge(a, a) is a, byte for byte; merge(merge(a, b), b) = merge(a, b)', () => {
    const rand = prng(7);
    for (const name of NAMES) {
      const cert = fixtureCert(name);
      assert.ok(writeCert(mergeCerts(cert, cert)).equals(fixtureBytes(name)), name);
      const a = randomCopy(cert, rand);
      const b = randomCopy(cert, rand);
      const ab = mergeCerts(a, b);
      assert.ok(writeCert(mergeCerts(ab, b)).equals(writeCert(ab)), name);
      assert.ok(writeCert(mergeCerts(ab, a)).equals(writeCert(ab)), name);
    }
  });

  test('commutative and associative as packet sets; the union of what each copy had', () => {
    const rand = prng(42);
    for (let round = 0; round < 5; round++) {
      for (const name of NAMES) {
        const cert = fixtureCert(name);
        const [a, b, c] = [randomCopy(cert, rand), randomCopy(cert, rand), randomCopy(cert, rand)];
        const ab = certShape(mergeCerts(a, b));
        assert.deepEqual(ab, certShape(mergeCerts(b, a)), name);
        assert.deepEqual(certShape(mergeCerts(mergeCerts(a, b), c)), certShape(mergeCerts(a, mergeCerts(b, c))), name);
        // Union: every signature of either copy is in the merge, and nothing else.
        const union = (x: string[], y: string[]) => [...new Set([...x, ...y])].sort();
        const sa = certShape(a);
        const sb = certShape(b);
        assert.deepEqual(ab.direct, union(sa.direct, sb.direct), name);
        for (const k of Object.keys(ab.users)) assert.deepEqual(ab.users[k], union(sa.users[k] ?? [], sb.users[k] ?? []), name);
        for (const k of Object.keys(ab.subkeys)) assert.deepEqual(ab.subkeys[k], union(sa.subkeys[k] ?? [], sb.subkeys[k] ?? []), name);
      }
    }
  });

  test('merging all three copies of dave in any order gives one shape', () => {
    const copies = [fixtureCert('dave'), readOne(fixtureBytes('merge/dave-b')), reencoded(fixtureCert('dave'))];
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    const shapes = orders.map(([i, j, k]) => certShape(mergeCerts(mergeCerts(copies[i], copies[j]), copies[k])));
    for (const s of shapes) assert.deepEqual(s, shapes[0]);
  });

  test('certificates of different keys do not merge', () => {
    assert.throws(
      () => mergeCerts(fixtureCert('alice'), fixtureCert('bob')),
      (err: unknown) => err instanceof InputError && err.code === 'MS_CERT_MERGE_MISMATCH',
    );
  });
});

describe('gpg oracle sanity', () => {
  let gpg: GpgHome;
  before(() => {
    gpg = new GpgHome();
  });
  after(() => gpg.cleanup());

  test('gpg exports every fixture as it was imported (so set comparison is not hiding loss)', () => {
    gpg.ok(['--import-options', 'import-local-sigs', '--import', join(CERTS_DIR, 'all.pgp')]);
    for (const name of NAMES) {
      const exported = readOne(gpg.ok(['--export', '--export-options', 'export-local-sigs', INDEX[name].fpr]).stdoutBytes);
      assert.deepEqual(certShape(exported), certShape(fixtureCert(name)), name);
    }
  });
});
