/**
 * Hostile and broken input for the certificate layer: truncation at every offset,
 * lying length headers, partial lengths, unknown key versions and algorithms, a 20 MB
 * user ID, seeded random bytes and mutations, and a keyring whose middle certificate
 * is broken. readCerts must never throw; every problem it reports is an MsError whose
 * message names the packet tag and the offset of the packet (the tag decoded there).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MalformedPacketError, MsError, UnsupportedError } from '../../src/errors.js';
import { type Cert, type ReadResult, readCerts, writeCert, writeCerts } from '../../src/openpgp/cert.js';
import { encodeOldPacket, encodePacket, type Packet, Tag } from '../../src/openpgp/packets.js';
import { signedChunks, signedDigest } from '../../src/openpgp/signed-data.js';
import { parseSignature } from '../../src/openpgp/signature.js';
import { Verifier } from '../../src/verify/verifier.js';
import { GpgHome } from '../helpers/gpg.js';
import { fixtureBytes, fixtureCert, locatedSigs, prng, randInt } from './fixtures.js';

/** The tag of the packet header at `offset`, as the framing layer decodes it. */
function tagAt(bytes: Buffer, offset: number): number | undefined {
  const ctb = bytes[offset];
  if (ctb === undefined || (ctb & 0x80) === 0) return undefined;
  return ctb & 0x40 ? ctb & 0x3f : (ctb >> 2) & 0x0f;
}

/**
 * readCerts without throwing, and problems that say where they are: an MsError naming
 * "packet tag T at offset O", where a packet with tag T starts at O. Only a byte that
 * is no packet header at all is named "packet at offset O".
 */
function readChecked(bytes: Buffer, label = ''): ReadResult {
  let result: ReadResult | undefined;
  assert.doesNotThrow(() => {
    result = readCerts(bytes);
  }, label);
  const r = result!;
  for (const p of r.problems) {
    assert.ok(p instanceof MsError, `${label}: problem is not an MsError: ${String(p)}`);
    const m = /\((?:packet tag (\d+)|packet) at offset (\d+)\)/.exec(p.message);
    assert.ok(m, `${label}: problem does not name its packet: ${p.message}`);
    const offset = Number(m[2]);
    assert.ok(offset < bytes.length, `${label}: offset ${offset} past the input (${bytes.length}): ${p.message}`);
    if (m[1] === undefined) {
      assert.match(p.message, /^invalid packet header byte/, label);
      assert.equal(tagAt(bytes, offset), undefined, `${label}: ${p.message}`);
    } else {
      assert.equal(tagAt(bytes, offset), Number(m[1]), `${label}: no tag ${m[1]} packet at ${offset}: ${p.message}`);
    }
  }
  // Whatever was read is a view of the input: each packet's bytes are where it says.
  for (const c of r.certs) {
    for (const p of c.packets) assert.ok(bytes.subarray(p.offset, p.offset + p.raw.length).equals(p.raw), `${label}: packet at ${p.offset}`);
  }
  return r;
}

/** Primary fingerprints gpg lists for a keyring (`--show-keys`: no import). */
function gpgShowKeys(bytes: Buffer): string[] {
  const gpg = new GpgHome();
  try {
    const file = join(gpg.dir, 'keyring.pgp');
    writeFileSync(file, bytes);
    const out: string[] = [];
    let want = false;
    for (const rec of gpg.run(['--with-colons', '--show-keys', file]).stdout.split('\n').map((l) => l.split(':'))) {
      if (rec[0] === 'pub') want = true;
      else if (rec[0] === 'fpr' && want) {
        out.push(rec[9]);
        want = false;
      } else if (rec[0] === 'sub') want = false;
    }
    return out;
  } finally {
    gpg.cleanup();
  }
}

/** Three small certificates of three algorithms (EdDSA with ECDH, RSA, ECDSA with a back-signature). */
const THREE = ['alice', 'bob', 'carol'] as const;
const threeBytes = () => Buffer.concat(THREE.map(fixtureBytes));

/** End offsets of each certificate in `certs` laid end to end. */
function ends(certs: Cert[]): number[] {
  let pos = 0;
  return certs.map((c) => {
    pos += writeCert(c).length;
    return pos;
  });
}

/** Asserts the certificates in `got` begin with exactly `want` (byte-identical). */
function assertStartsWith(got: Cert[], want: Cert[], label: string): void {
  assert.ok(got.length >= want.length, `${label}: ${got.length} certificates, want at least ${want.length}`);
  want.forEach((c, i) => {
    assert.ok(writeCert(got[i]).equals(writeCert(c)), `${label}: certificate ${i}`);
  });
}

/** A keyring of three certificates with the middle one replaced by `middle`. */
function sandwich(middle: Buffer): { bytes: Buffer; first: Cert; last: Cert; middleOffset: number } {
  const first = fixtureCert('dave');
  const last = fixtureCert('carol');
  const head = writeCert(first);
  return { bytes: Buffer.concat([head, middle, writeCert(last)]), first, last, middleOffset: head.length };
}

function assertOuterLoad(r: ReadResult, first: Cert, last: Cert, label: string): void {
  assert.ok(writeCert(r.certs[0]).equals(writeCert(first)), `${label}: first certificate`);
  assert.ok(writeCert(r.certs[r.certs.length - 1]).equals(writeCert(last)), `${label}: last certificate`);
}

describe('truncation', () => {
  test('a keyring cut at every offset: the certificates before the cut load intact, one problem at most', () => {
    const bytes = threeBytes();
    const full = readChecked(bytes).certs;
    const certEnds = ends(full);
    const boundaries = new Set(full.flatMap((c) => c.packets.map((p) => p.offset)).concat([bytes.length]));
    for (let n = 0; n < bytes.length; n++) {
      const label = `cut at ${n}`;
      const r = readChecked(bytes.subarray(0, n), label);
      const complete = certEnds.filter((e) => e <= n).length;
      assertStartsWith(r.certs, full.slice(0, complete), label);
      if (boundaries.has(n)) {
        // A cut between packets is a shorter, well-formed keyring: a partial last certificate at most.
        assert.equal(r.problems.length, 0, label);
        assert.equal(r.certs.length, certEnds.includes(n) || n === 0 ? complete : complete + 1, label);
      } else {
        // A cut inside a packet: one framing problem, and the certificate it was in is dropped.
        assert.equal(r.problems.length, 1, label);
        assert.ok(r.problems[0] instanceof MalformedPacketError, label);
        assert.equal(r.certs.length, complete, label);
      }
    }
  });

  test('every packet body cut short, with a header that agrees: key and signature packets are reported, nothing throws', () => {
    const bytes = threeBytes();
    const full = readChecked(bytes).certs;
    const packets = full.flatMap((c) => c.packets);
    let reported = 0;
    for (const p of packets) {
      for (let k = 0; k < p.body.length; k++) {
        const shorter = encodePacket(p.tag, p.body.subarray(0, k));
        const input = Buffer.concat([bytes.subarray(0, p.offset), shorter, bytes.subarray(p.offset + p.raw.length)]);
        const label = `tag ${p.tag} at ${p.offset} cut to ${k} of ${p.body.length}`;
        const r = readChecked(input, label);
        if (p.tag === Tag.UserId) {
          // A shorter user ID is another user ID.
          assert.equal(r.problems.length, 0, label);
          continue;
        }
        // Every proper prefix of a v4 key or signature body is malformed, and says so, at that packet.
        assert.equal(r.problems.length, 1, label);
        assert.match(r.problems[0].message, new RegExp(`\\(packet tag ${p.tag} at offset ${p.offset}\\)`), label);
        reported++;
        // The other certificates are unharmed.
        const owner = full.findIndex((c) => c.packets.includes(p));
        full.forEach((c, i) => {
          if (i !== owner) assert.ok(r.certs.some((x) => writeCert(x).equals(writeCert(c))), `${label}: certificate ${i}`);
        });
      }
    }
    assert.ok(reported > 1000, `reported ${reported}`);
  });
});

describe('length headers', () => {
  test('every packet header rewritten with a wrong length (-1, +1, 0, 2^32-1): no throw, the damage is reported', () => {
    const bytes = threeBytes();
    const full = readChecked(bytes).certs;
    const packets = full.flatMap((c) => c.packets);
    for (const p of packets) {
      const before = full.filter((_, i) => ends(full)[i] <= p.offset);
      for (const len of [p.body.length - 1, p.body.length + 1, 0, 0xffffffff]) {
        if (len < 0 || len === p.body.length) continue;
        const header = Buffer.alloc(6);
        header[0] = 0xc0 | p.tag;
        header[1] = 0xff;
        header.writeUInt32BE(len, 2);
        const input = Buffer.concat([bytes.subarray(0, p.offset), header, p.body, bytes.subarray(p.offset + p.raw.length)]);
        const label = `tag ${p.tag} at ${p.offset}: length ${len} for ${p.body.length}`;
        const r = readChecked(input, label);
        assertStartsWith(r.certs, before, label);
        assert.ok(r.problems.length >= 1, `${label}: no problem reported`);
      }
    }
  });

  test('partial body lengths and indeterminate lengths are refused where they start', () => {
    const uid = encodePacket(Tag.UserId, Buffer.from('Mallory <mallory@example.org>'));
    // New format, partial length of 2^1 bytes, then the rest.
    const partial = Buffer.concat([Buffer.from([0xc0 | Tag.UserId, 0xe1]), Buffer.from('Ma'), Buffer.from([0x05]), Buffer.from('llory')]);
    // Old format, length type 3 (indeterminate): the packet runs to the end of the input.
    const indeterminate = Buffer.concat([Buffer.from([0x80 | (Tag.UserId << 2) | 3]), Buffer.from('Mallory')]);
    for (const [label, bad] of [
      ['partial', partial],
      ['indeterminate', indeterminate],
    ] as const) {
      const frank = fixtureCert('frank');
      const middle = Buffer.concat([frank.primary.packet.raw, bad, uid]);
      const { bytes, first, middleOffset } = sandwich(middle);
      const r = readChecked(bytes, label);
      const at = middleOffset + frank.primary.packet.raw.length;
      assert.equal(r.problems.length, 1, label);
      assert.match(r.problems[0].message, new RegExp(`(partial|indeterminate).*\\(packet tag 13 at offset ${at}\\)`), label);
      // A framing error ends reading: what follows cannot be framed with confidence.
      assert.equal(r.certs.length, 1, label);
      assert.ok(writeCert(r.certs[0]).equals(writeCert(first)), label);
      // gpg 2.2.40 does the same ("read_block: read error: Invalid packet"): only the first is listed.
      assert.deepEqual(gpgShowKeys(bytes), [first.primary.fpr], label);
    }
  });

  test('a byte that is no packet header stops reading where gpg stops too', () => {
    const frank = fixtureCert('frank');
    const middle = Buffer.concat([frank.primary.packet.raw, Buffer.from('AB'), ...frank.packets.slice(1).map((p) => p.raw)]);
    const { bytes, first, middleOffset } = sandwich(middle);
    const r = readChecked(bytes);
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0].message, `invalid packet header byte 0x41 (packet at offset ${middleOffset + frank.primary.packet.raw.length})`);
    assert.deepEqual(
      r.certs.map((c) => c.primary.fpr),
      [first.primary.fpr],
    );
    assert.deepEqual(gpgShowKeys(bytes), [first.primary.fpr]);
  });
});

describe('unknown versions and algorithms', () => {
  const bob = () => fixtureCert('bob');
  const rsa = () => {
    const m = bob().primary.material;
    assert.equal(m.kind, 'rsa');
    return m;
  };
  const mpi = (b: Buffer) => {
    const h = Buffer.alloc(2);
    h.writeUInt16BE(b.length * 8 - Math.clz32(b[0]) + 24);
    return Buffer.concat([h, b]);
  };
  const created = Buffer.from([0x61, 0xcf, 0xfd, 0x80]); // 2022-01-01
  const v3Key = () => {
    const { n, e } = rsa();
    return Buffer.concat([Buffer.from([3]), created, Buffer.from([0, 0, 1]), mpi(n), mpi(e)]);
  };
  const v5Key = () => {
    const { n, e } = rsa();
    const material = Buffer.concat([mpi(n), mpi(e)]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(material.length);
    return Buffer.concat([Buffer.from([5]), created, Buffer.from([1]), len, material]);
  };
  const uid = encodePacket(Tag.UserId, Buffer.from('Odd <odd@example.org>'));

  for (const [version, body] of [
    [3, v3Key],
    [5, v5Key],
  ] as const) {
    test(`a v${version} primary key: that certificate is skipped with MS_PGP_KEY_VERSION, the others load`, () => {
      const selfSig = bob().users[0].signatures[0].packet.raw;
      const { bytes, first, last, middleOffset } = sandwich(Buffer.concat([encodeOldPacket(Tag.PublicKey, body()), uid, selfSig]));
      const r = readChecked(bytes);
      assert.equal(r.certs.length, 2);
      assertOuterLoad(r, first, last, `v${version}`);
      assert.equal(r.problems.length, 1);
      const p = r.problems[0];
      assert.ok(p instanceof UnsupportedError);
      assert.equal(p.code, 'MS_PGP_KEY_VERSION');
      assert.equal(p.message, `unsupported key packet version ${version} (packet tag 6 at offset ${middleOffset})`);
    });

    test(`a v${version} subkey: only that subkey is dropped`, () => {
      const alice = fixtureCert('alice');
      const sub = encodePacket(Tag.PublicSubkey, body());
      const binding = alice.subkeys[0].signatures[0].packet.raw;
      const at = writeCert(alice).length;
      const input = Buffer.concat([writeCert(alice), sub, binding]);
      const r = readChecked(input);
      assert.equal(r.certs.length, 1);
      assert.ok(writeCert(r.certs[0]).equals(writeCert(alice)));
      assert.equal(r.problems.length, 1);
      assert.equal(r.problems[0].message, `unsupported key packet version ${version} (packet tag 14 at offset ${at})`);
    });
  }

  test('algorithm 99: the certificate loads with the fingerprint gpg computes; the others load too', () => {
    const key = Buffer.concat([Buffer.from([4]), created, Buffer.from([99]), Buffer.from('opaque key material of an unknown algorithm')]);
    const middle = Buffer.concat([encodeOldPacket(Tag.PublicKey, key), uid]);
    const { bytes, first, last } = sandwich(middle);
    const r = readChecked(bytes);
    assert.deepEqual(r.problems, []);
    assert.equal(r.certs.length, 3);
    assertOuterLoad(r, first, last, 'algorithm 99');
    const odd = r.certs[1];
    assert.equal(odd.primary.algorithm, 99);
    assert.equal(odd.primary.material.kind, 'unknown');
    assert.equal(odd.primary.bits, 0);
    assert.ok(writeCert(odd).equals(middle));
    assert.deepEqual(gpgShowKeys(middle), [odd.primary.fpr]);
  });

  test('algorithm 99 in a subkey and in a signature: loaded, never verified, never thrown', async () => {
    const alice = fixtureCert('alice');
    const sub = Buffer.concat([Buffer.from([4]), created, Buffer.from([99]), Buffer.from('unknown subkey')]);
    // alice's user ID certification with its algorithm byte set to 99.
    const sigRaw = Buffer.from(alice.users[0].signatures[0].packet.raw);
    const sigPacket = alice.users[0].signatures[0].packet;
    sigRaw[sigPacket.raw.length - sigPacket.body.length + 2] = 99;
    const input = Buffer.concat([alice.primary.packet.raw, alice.users[0].packet.raw, sigRaw, encodePacket(Tag.PublicSubkey, sub)]);
    const r = readChecked(input);
    assert.deepEqual(r.problems, []);
    const cert = r.certs[0];
    assert.equal(cert.subkeys[0].key.algorithm, 99);
    const s = locatedSigs(cert)[0];
    assert.equal(s.sig.pubAlgorithm, 99);
    assert.deepEqual(await new Verifier().verify([{ issuer: cert.primary, sig: s.sig, target: s.target }]), [false]);
    assert.deepEqual(await new Verifier().verify([{ issuer: cert.subkeys[0].key, sig: s.sig, target: s.target }]), [false]);
  });

  test('a v5 signature is kept (and written back) but reported as MS_PGP_SIG_VERSION', () => {
    const dave = fixtureCert('dave');
    const cert = dave.users[0].signatures[1].packet;
    const v5 = Buffer.from(cert.raw);
    v5[cert.raw.length - cert.body.length] = 5;
    const input = Buffer.concat(dave.packets.map((p) => (p === cert ? v5 : p.raw)));
    const r = readChecked(input);
    assert.equal(r.certs.length, 1);
    assert.ok(writeCert(r.certs[0]).equals(input));
    assert.equal(r.problems.length, 1);
    assert.ok(r.problems[0] instanceof UnsupportedError);
    assert.equal(r.problems[0].code, 'MS_PGP_SIG_VERSION');
    assert.equal(r.certs[0].users[0].signatures[1].sig, undefined);
    assert.equal(r.certs[0].users[0].signatures[1].error, r.problems[0]);
  });

  test('a key whose EC point is off its curve, with a matching digest prefix: the Verifier says bad, not throws', async () => {
    // The digest prefix is public, so anyone can make a signature pass the early check.
    // Before the fix in src/openpgp/verify.ts (keySpki), createPublicKey threw inside
    // Verifier.verify() and the whole batch failed.
    const carol = fixtureCert('carol');
    const raw = Buffer.from(writeCert(carol));
    const kp = carol.primary.packet;
    raw[kp.offset + kp.raw.length - 1] ^= 0x01; // last byte of the point's y coordinate
    const broken = readChecked(raw).certs[0];
    const checks = locatedSigs(broken).map((s) => {
      const digest = signedDigest(s.sig, signedChunks(s.sig, s.target));
      const fixed = Buffer.from(s.entry.packet.raw);
      digest.copy(fixed, s.sig.left16.byteOffset - s.entry.packet.raw.byteOffset, 0, 2);
      const packet: Packet = { ...s.entry.packet, raw: fixed, body: fixed.subarray(fixed.length - s.entry.packet.body.length) };
      return { issuer: broken.primary, sig: parseSignature(packet), target: s.target };
    });
    // Checks by a good key in the same batch still succeed.
    const good = fixtureCert('dave');
    const goodChecks = locatedSigs(good)
      .filter((s) => s.sig.issuerFingerprints[0] === good.primary.fpr)
      .map((s) => ({ issuer: good.primary, sig: s.sig, target: s.target }));
    const verdicts = await new Verifier().verify([...checks, ...goodChecks]);
    assert.deepEqual(verdicts, [...checks.map(() => false), ...goodChecks.map(() => true)]);
  });
});

describe('oversized packets', () => {
  test('a 20 MB user ID: reported with its tag and offset; its certificate and the others load', () => {
    const frank = fixtureCert('frank');
    const big = Buffer.alloc(20 * 1024 * 1024, 0x41);
    const bigUid = encodePacket(Tag.UserId, big);
    const rest = frank.packets.slice(1).map((p) => p.raw);
    const middle = Buffer.concat([frank.primary.packet.raw, bigUid, ...rest]);
    const { bytes, first, last, middleOffset } = sandwich(middle);
    const r = readChecked(bytes);
    assert.equal(r.certs.length, 3);
    assertOuterLoad(r, first, last, '20 MB user ID');
    // frank keeps everything but the oversized user ID.
    assert.ok(writeCert(r.certs[1]).equals(writeCert(frank)));
    assert.equal(r.problems.length, 1);
    const at = middleOffset + frank.primary.packet.raw.length;
    assert.equal(r.problems[0].message, `packet of ${big.length} bytes exceeds the size limit; component dropped (packet tag 13 at offset ${at})`);
    // gpg 2.2.40 also skips it ("packet(13) too large") and lists all three.
    assert.deepEqual(
      gpgShowKeys(bytes),
      r.certs.map((c) => c.primary.fpr),
    );
  });

  test('an oversized primary key skips its certificate; an oversized signature only itself', () => {
    const frank = fixtureCert('frank');
    const hugeKey = encodePacket(Tag.PublicKey, Buffer.alloc(300 * 1024, 4));
    const skipped = sandwich(Buffer.concat([hugeKey, ...frank.packets.slice(1).map((p) => p.raw)]));
    const r1 = readChecked(skipped.bytes);
    assert.equal(r1.certs.length, 2);
    assertOuterLoad(r1, skipped.first, skipped.last, 'oversized key');
    assert.match(r1.problems[0].message, new RegExp(`^key packet of ${300 * 1024} bytes exceeds the size limit \\(packet tag 6 at offset ${skipped.middleOffset}\\)$`));

    const hugeSig = encodePacket(Tag.Signature, Buffer.alloc(65 * 1024, 4));
    const withSig = sandwich(Buffer.concat([writeCert(frank), hugeSig]));
    const r2 = readChecked(withSig.bytes);
    assert.equal(r2.certs.length, 3);
    assert.ok(writeCert(r2.certs[1]).equals(writeCert(frank)));
    assert.equal(r2.problems.length, 1);
    assert.match(r2.problems[0].message, new RegExp(`\\(packet tag 2 at offset ${withSig.middleOffset + writeCert(frank).length}\\)$`));
  });
});

describe('random input (seeded)', () => {
  test('1000 random byte strings', () => {
    const rand = prng(0x5eed);
    for (let i = 0; i < 1000; i++) {
      const bytes = Buffer.alloc(randInt(rand, 2048));
      for (let j = 0; j < bytes.length; j++) bytes[j] = randInt(rand, 256);
      // Half of them start with a plausible packet header, to get past the first byte.
      if (i % 2 === 0 && bytes.length > 0) bytes[0] = [0x99, 0x98, 0xc6, 0xb4, 0x89, 0xc2][randInt(rand, 6)];
      readChecked(bytes, `case ${i}`);
    }
  });

  test('1000 streams of random packets with plausible headers', () => {
    const rand = prng(0xfeed);
    const tags = [Tag.PublicKey, Tag.PublicSubkey, Tag.UserId, Tag.Signature, Tag.UserAttribute, Tag.Trust, Tag.SecretKey, 60, 3];
    const firstBytes = [4, 6, 3, 5, 2, 0, 99];
    for (let i = 0; i < 1000; i++) {
      const parts: Buffer[] = [];
      const count = 1 + randInt(rand, 8);
      for (let j = 0; j < count; j++) {
        const body = Buffer.alloc(randInt(rand, 300));
        for (let k = 0; k < body.length; k++) body[k] = randInt(rand, 256);
        // Version-like first bytes reach deeper into the key and signature parsers.
        if (body.length > 0) body[0] = firstBytes[randInt(rand, firstBytes.length)];
        const tag = tags[randInt(rand, tags.length)];
        parts.push(tag < 16 && rand() < 0.5 ? encodeOldPacket(tag, body) : encodePacket(tag, body));
      }
      readChecked(Buffer.concat(parts), `case ${i}`);
    }
  });

  test('1000 mutations of a real keyring (bit flips, inserted and deleted bytes), then verification', async () => {
    const rand = prng(0xbad);
    const base = threeBytes();
    for (let i = 0; i < 1000; i++) {
      let bytes = Buffer.from(base);
      for (let j = 0; j < 1 + randInt(rand, 4); j++) {
        const at = randInt(rand, bytes.length);
        const op = randInt(rand, 3);
        if (op === 0) bytes[at] ^= 1 << randInt(rand, 8);
        else if (op === 1) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([randInt(rand, 256)]), bytes.subarray(at)]);
        else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
      }
      const r = readChecked(bytes, `case ${i}`);
      // Whatever parsed also goes through the Verifier without throwing.
      const checks = r.certs.flatMap((c) => locatedSigs(c).map((s) => ({ issuer: c.primary, sig: s.sig, target: s.target })));
      const verdicts = await new Verifier().verify(checks);
      assert.equal(verdicts.length, checks.length);
    }
  });
});

describe('a broken certificate between two good ones', () => {
  const frank = () => fixtureCert('frank');
  const cases: Array<[string, () => Buffer, number]> = [
    [
      'key packet with an MPI longer than the packet',
      () => {
        const f = frank();
        const body = Buffer.from(f.primary.packet.body);
        body[body.length - 35] = 0xff; // high byte of the EdDSA point's bit count
        return Buffer.concat([encodeOldPacket(Tag.PublicKey, body), ...f.packets.slice(1).map((p) => p.raw)]);
      },
      2,
    ],
    [
      'garbage where a signature should be',
      () => {
        const f = frank();
        return Buffer.concat([f.primary.packet.raw, f.users[0].packet.raw, encodePacket(Tag.Signature, Buffer.from([4, 0x13, 22, 8, 0xff, 0xff]))]);
      },
      3,
    ],
    ['an unknown packet (tag 60) inside it', () => Buffer.concat([writeCert(frank()), encodePacket(60, Buffer.from('private use'))]), 3],
    [
      'a user attribute and a trust packet',
      () => Buffer.concat([writeCert(frank()), encodePacket(Tag.UserAttribute, Buffer.from([5, 1, 0, 0, 0])), encodeOldPacket(Tag.Trust, Buffer.from([0, 0]))]),
      3,
    ],
  ];
  for (const [label, middle, certCount] of cases) {
    test(`${label}: certificates 1 and 3 load`, () => {
      const { bytes, first, last } = sandwich(middle());
      const r = readChecked(bytes, label);
      assert.equal(r.certs.length, certCount, label);
      assertOuterLoad(r, first, last, label);
      assert.ok(writeCerts(r.certs).length <= bytes.length);
    });
  }
});
