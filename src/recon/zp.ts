/**
 * The field Z_p that SKS recon works in (SKS zZp.ml, conflux zp.go): elements are plain
 * bigints, always canonical (0 ≤ x < p). Also the 17-byte little-endian wire form, the map
 * from a 16-byte MD5 key digest to its element, and the fixed sample points both peers use.
 * Not here: polynomials (poly.ts) and interpolation (interpolate.ts).
 */
import { InputError } from '../errors.js';

/** SKS's prime (conflux `P_SKS`): 129 bits, so every 128-bit MD5 digest is already below it. */
export const P = 530512889551602322505127520352579437339n;

/** Bytes of an element on the wire and in a prefix-tree leaf: ceil(bits(p) / 8) = 17. */
export const ZP_BYTES = 17;

/** Bytes of the MD5 key digest an element stands for (SKS KeyHash, sks-digest.ts). */
export const DIGEST_BYTES = 16;

/** x mod p for any bigint, negative ones included. */
export function zpReduce(x: bigint): bigint {
  const r = x % P;
  return r < 0n ? r + P : r;
}

export function zpAdd(a: bigint, b: bigint): bigint {
  const s = a + b;
  return s >= P ? s - P : s;
}

export function zpSub(a: bigint, b: bigint): bigint {
  const d = a - b;
  return d < 0n ? d + P : d;
}

export function zpNeg(a: bigint): bigint {
  return a === 0n ? 0n : P - a;
}

export function zpMul(a: bigint, b: bigint): bigint {
  return (a * b) % P;
}

/**
 * a⁻¹ by the extended Euclidean algorithm.
 * @throws RangeError for 0, which has no inverse (a caller bug, as in SKS `ZZp.inv`).
 */
export function zpInv(a: bigint): bigint {
  if (a === 0n) throw new RangeError('zero has no inverse in Z_p');
  let r0 = P;
  let r1 = a;
  let s0 = 0n;
  let s1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    const r2 = r0 - q * r1;
    r0 = r1;
    r1 = r2;
    const s2 = s0 - q * s1;
    s0 = s1;
    s1 = s2;
  }
  return s0 < 0n ? s0 + P : s0;
}

/** a / b. @throws RangeError when b is 0. */
export function zpDiv(a: bigint, b: bigint): bigint {
  return zpMul(a, zpInv(b));
}

/** base^exp for exp ≥ 0, by square and multiply. */
export function zpPow(base: bigint, exp: bigint): bigint {
  if (exp < 0n) throw new RangeError('negative exponent');
  let result = 1n;
  let b = zpReduce(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

/**
 * The inverses of all of `xs` with one field inversion (Montgomery's trick), since removing
 * an element from the tree divides every sample by its own factor.
 * @throws RangeError when any of them is 0.
 */
export function zpInvAll(xs: readonly bigint[]): bigint[] {
  const n = xs.length;
  const out = new Array<bigint>(n);
  let acc = 1n;
  for (let i = 0; i < n; i++) {
    out[i] = acc;
    acc = (acc * xs[i]) % P;
  }
  let inv = zpInv(acc);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = (out[i] * inv) % P;
    inv = (inv * xs[i]) % P;
  }
  return out;
}

/** Whether x is a canonical element. */
export function isZp(x: bigint): boolean {
  return x >= 0n && x < P;
}

/**
 * The element in its 17-byte little-endian wire form (SKS `ZZp.to_bytes`, conflux `WriteZp`:
 * least significant byte first, zero-padded). This is also the byte string whose bits place
 * the element in the prefix tree (bitstring.ts).
 */
export function zpToBytes(x: bigint): Buffer {
  const out = Buffer.alloc(ZP_BYTES);
  let v = zpReduce(x);
  for (let i = 0; v > 0n; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * An element from little-endian bytes (SKS `Number.of_bytes`, conflux `Zp.SetBytes`), reduced
 * mod p as conflux's `ReadZp` does; SKS never sends an unreduced one.
 */
export function zpFromBytes(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return zpReduce(v);
}

/**
 * The element a key's 16-byte MD5 digest stands for: the digest bytes read as a little-endian
 * number (SKS inserts the raw hash string with `PrefixTree.insert_str`, which pads it to 17
 * bytes and reads it with `Number.of_bytes`; hockeypuck `DigestZp` pads the decoded hex with
 * `PadSksElement` and reads it with `Zb`). Digests are below 2^128 < p, so no reduction happens.
 * @throws InputError (MS_RECON_MALFORMED) when `digest` is not 16 bytes.
 */
export function zpFromDigest(digest: Uint8Array): bigint {
  if (digest.length !== DIGEST_BYTES) {
    throw new InputError('MS_RECON_MALFORMED', `an SKS key digest is ${DIGEST_BYTES} bytes, not ${digest.length}`);
  }
  return zpFromBytes(digest);
}

/**
 * The 16-byte digest an element stands for (what `/pks/hashquery` asks for), the inverse of
 * `zpFromDigest`.
 * @throws InputError (MS_RECON_MALFORMED) when the element is 2^128 or more, so no digest.
 */
export function zpToDigest(x: bigint): Buffer {
  if (x < 0n || x >= 1n << 128n) throw new InputError('MS_RECON_MALFORMED', `element ${x} is not an MD5 digest`);
  return zpToBytes(x).subarray(0, DIGEST_BYTES);
}

/**
 * The n sample points both peers evaluate at: 0, -1, 1, -2, 2, -3, … mod p (SKS
 * `ZZp.points`, conflux `Zpoints`). They are never sent, so they must match exactly.
 */
export function zpPoints(n: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const k = BigInt((i + 1) >> 1);
    out.push(i % 2 === 0 ? k : zpNeg(k));
  }
  return out;
}

/** A source of uniform field elements, for the randomized root finding; injectable for tests. */
export type ZpRandom = () => bigint;

/** Uniform enough random elements from the platform CSPRNG (the 2^-128-ish bias is harmless). */
export const cryptoZpRandom: ZpRandom = () => {
  const bytes = new Uint8Array(ZP_BYTES + 8);
  globalThis.crypto.getRandomValues(bytes);
  return zpFromBytes(bytes);
};
