/**
 * Z_p (src/recon/zp.ts): the field laws on seeded random elements, the wire and digest forms,
 * and known answers read from SKS (zZp.ml, number.ml) and conflux (zp.go, decode.go).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isZp,
  P,
  ZP_BYTES,
  zpAdd,
  zpDiv,
  zpFromBytes,
  zpFromDigest,
  zpInv,
  zpInvAll,
  zpMul,
  zpNeg,
  zpPoints,
  zpPow,
  zpReduce,
  zpSub,
  zpToBytes,
  zpToDigest,
} from '../../src/recon/zp.js';
import { seededElements } from './seeded.js';

const elements = (seed: number) => seededElements(seed);

describe('Z_p field laws', () => {
  const next = elements(1);
  const samples = Array.from({ length: 200 }, next);
  samples.push(0n, 1n, 2n, P - 1n, P - 2n);

  test('addition and multiplication are commutative, associative and distribute', () => {
    for (let i = 0; i + 2 < samples.length; i++) {
      const [a, b, c] = [samples[i], samples[i + 1], samples[i + 2]];
      assert.equal(zpAdd(a, b), zpAdd(b, a));
      assert.equal(zpMul(a, b), zpMul(b, a));
      assert.equal(zpAdd(zpAdd(a, b), c), zpAdd(a, zpAdd(b, c)));
      assert.equal(zpMul(zpMul(a, b), c), zpMul(a, zpMul(b, c)));
      assert.equal(zpMul(a, zpAdd(b, c)), zpAdd(zpMul(a, b), zpMul(a, c)));
      for (const r of [zpAdd(a, b), zpSub(a, b), zpMul(a, b), zpNeg(a)]) assert.ok(isZp(r));
    }
  });

  test('identities, negation, subtraction and inverses', () => {
    for (const a of samples) {
      assert.equal(zpAdd(a, 0n), a);
      assert.equal(zpMul(a, 1n), a);
      assert.equal(zpAdd(a, zpNeg(a)), 0n);
      assert.equal(zpSub(a, a), 0n);
      assert.equal(zpAdd(zpSub(a, 7n), 7n), a);
      if (a === 0n) continue;
      assert.equal(zpMul(a, zpInv(a)), 1n);
      assert.equal(zpDiv(a, a), 1n);
    }
    assert.throws(() => zpInv(0n), RangeError);
  });

  test('pow agrees with Fermat: a^(p-1) = 1, a^p = a', () => {
    for (const a of samples.slice(0, 20)) {
      if (a !== 0n) assert.equal(zpPow(a, P - 1n), 1n);
      assert.equal(zpPow(a, P), a);
      assert.equal(zpPow(a, 3n), zpMul(a, zpMul(a, a)));
    }
    assert.equal(zpPow(5n, 0n), 1n);
  });

  test('zpInvAll equals one inverse at a time', () => {
    const xs = samples.filter((x) => x !== 0n).slice(0, 7);
    assert.deepEqual(zpInvAll(xs), xs.map(zpInv));
    assert.deepEqual(zpInvAll([]), []);
    assert.throws(() => zpInvAll([3n, 0n]), RangeError);
  });

  test('reduce takes negatives and multiples of p to canonical form', () => {
    assert.equal(zpReduce(-1n), P - 1n);
    assert.equal(zpReduce(P), 0n);
    assert.equal(zpReduce(2n * P + 5n), 5n);
  });
});

describe('Z_p known answers', () => {
  test('p is the SKS prime, 129 bits, so elements take 17 bytes', () => {
    // conflux zp.go P_SKS; SKS sets the same order in its settings and ZZp.set_order.
    assert.equal(P, 530512889551602322505127520352579437339n);
    assert.equal(P.toString(2).length, 129);
    assert.equal(ZP_BYTES, 17);
    // Fermat witnesses: p is (probably) prime, so every non-zero element is invertible.
    for (const a of [2n, 3n, 5n, 7n, 11n]) assert.equal(zpPow(a, P - 1n), 1n);
  });

  test('the wire form is 17 bytes, least significant first (SKS Number.to_bytes, conflux WriteZp)', () => {
    assert.equal(zpToBytes(1n).toString('hex'), `01${'00'.repeat(16)}`);
    assert.equal(zpToBytes(0x0102n).toString('hex'), `0201${'00'.repeat(15)}`);
    assert.equal(zpToBytes(0n).toString('hex'), '00'.repeat(17));
    // p − 1 = 0x018f…: its top byte is the 17th on the wire.
    const top = zpToBytes(P - 1n);
    assert.equal(top.length, 17);
    assert.equal(top[16], 1);
    assert.equal(zpFromBytes(top), P - 1n);
  });

  test('wire round trip, and unreduced input is reduced as conflux ReadZp does', () => {
    const next = elements(2);
    for (let i = 0; i < 100; i++) {
      const z = next();
      assert.equal(zpFromBytes(zpToBytes(z)), z);
    }
    const pBytes = zpToBytes(0n);
    let v = P + 3n;
    for (let i = 0; i < 17; i++, v >>= 8n) pBytes[i] = Number(v & 0xffn);
    assert.equal(zpFromBytes(pBytes), 3n);
  });

  test('an MD5 digest is its 16 bytes read little-endian (SKS insert_str + Number.of_bytes, hockeypuck DigestZp)', () => {
    const digest = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    assert.equal(zpFromDigest(digest), 0x0f0e0d0c0b0a09080706050403020100n);
    assert.equal(zpToDigest(0x0f0e0d0c0b0a09080706050403020100n).toString('hex'), digest.toString('hex'));
    const ff = Buffer.alloc(16, 0xff);
    assert.equal(zpFromDigest(ff), (1n << 128n) - 1n); // below p: never reduced
    assert.deepEqual(zpToDigest(zpFromDigest(ff)), ff);
    assert.throws(() => zpFromDigest(Buffer.alloc(17)), { code: 'MS_RECON_MALFORMED' });
    assert.throws(() => zpToDigest(1n << 128n), { code: 'MS_RECON_MALFORMED' });
  });

  test('sample points are 0, -1, 1, -2, 2, … (SKS ZZp.points, conflux Zpoints)', () => {
    assert.deepEqual(zpPoints(6), [0n, P - 1n, 1n, P - 2n, 2n, P - 3n]);
    // conflux decode_test.go TestCannedInterpolation lists the first 13 as 0 -1 1 -2 2 … -6 6.
    const expected = [0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5, -6, 6].map((n) => zpReduce(BigInt(n)));
    assert.deepEqual(zpPoints(13), expected);
  });
});
