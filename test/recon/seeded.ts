/**
 * Seeded random elements of Z_p for the recon tests (mulberry32 words), so that a failing
 * case reproduces from its seed.
 */
import { type ZpRandom, zpReduce } from '../../src/recon/zp.js';

/**
 * A stream of elements: 160-bit values reduced mod p (the whole field), or with `bits` 128
 * values below 2^128, as MD5 digests are.
 */
export function seededElements(seed: number, bits: 128 | 160 = 160): ZpRandom {
  let s = seed >>> 0;
  const word = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return BigInt((t ^ (t >>> 14)) >>> 0);
  };
  return bits === 128
    ? () => zpReduce((word() << 96n) | (word() << 64n) | (word() << 32n) | word())
    : () => zpReduce((word() << 128n) | (word() << 96n) | (word() << 64n) | (word() << 32n) | word());
}
