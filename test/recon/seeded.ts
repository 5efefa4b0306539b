/**
 * Test data for the recon tests: seeded random elements of Z_p (mulberry32 words), so that a
 * failing case reproduces from its seed, and the known answers taken from SKS runs.
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

/**
 * The rational function of an SKS run, as conflux's decode_test.go records it
 * (TestCannedInterpolation's answer, TestPolyNomNomNom's input): numerator and denominator,
 * lowest degree first.
 */
export const SKS_RATIONAL = {
  num: [201510631159794911579036209221877731351n, 1n],
  denom: [
    '471406228141421561633415986254867829648',
    '295519390096665634601203803035473291375',
    '213853624487129571321714452851928100712',
    '496937274460702615962215989437926963535',
    '276914137420158008254462690448206036905',
    '323796663999875107447504850182776354321',
    '278888159583692127965164290452048385915',
    '451945789461805767613376502019011847396',
    '91519704684961309708461769260348368047',
    '209097283573511646123086148468849229449',
    '49011742009925395272518613422388842885',
    '129168611341530605578585909520009112853',
    '1',
  ].map(BigInt),
} as const;
