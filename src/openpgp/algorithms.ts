/** OpenPGP algorithm identifiers (RFC 9580 §9) and the curve OIDs we know. */

export const PubKeyAlg = {
  RSA: 1,
  RSAEncrypt: 2,
  RSASign: 3,
  ElGamal: 16,
  DSA: 17,
  ECDH: 18,
  ECDSA: 19,
  ElGamalSign: 20,
  EdDSALegacy: 22,
  X25519: 25,
  X448: 26,
  Ed25519: 27,
  Ed448: 28,
} as const;

export const HashAlg = {
  MD5: 1,
  SHA1: 2,
  RIPEMD160: 3,
  SHA256: 8,
  SHA384: 9,
  SHA512: 10,
  SHA224: 11,
  SHA3_256: 12,
  SHA3_512: 14,
} as const;

/** node:crypto names for OpenPGP hash algorithms. */
export const HASH_NAMES: Readonly<Record<number, string>> = {
  1: 'md5',
  2: 'sha1',
  3: 'ripemd160',
  8: 'sha256',
  9: 'sha384',
  10: 'sha512',
  11: 'sha224',
  12: 'sha3-256',
  14: 'sha3-512',
};

export const HASH_LABELS: Readonly<Record<number, string>> = {
  1: 'MD5',
  2: 'SHA-1',
  3: 'RIPEMD-160',
  8: 'SHA-256',
  9: 'SHA-384',
  10: 'SHA-512',
  11: 'SHA-224',
  12: 'SHA3-256',
  14: 'SHA3-512',
};

export interface Curve {
  name: string;
  /** OID in dotted form. */
  oid: string;
  /** DER body of the OID, as OpenPGP stores it. */
  oidBytes: Buffer;
  /** Field size in bits (index output, key length). */
  bits: number;
  /** node:crypto / JWK name, when node supports signing with it. */
  nodeName?: string;
}

function oidBytes(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const enc = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) enc.unshift((v & 0x7f) | 0x80);
    out.push(...enc);
  }
  return Buffer.from(out);
}

const CURVE_LIST: Array<Omit<Curve, 'oidBytes'>> = [
  { name: 'nistp256', oid: '1.2.840.10045.3.1.7', bits: 256, nodeName: 'P-256' },
  { name: 'nistp384', oid: '1.3.132.0.34', bits: 384, nodeName: 'P-384' },
  { name: 'nistp521', oid: '1.3.132.0.35', bits: 521, nodeName: 'P-521' },
  { name: 'brainpoolP256r1', oid: '1.3.36.3.3.2.8.1.1.7', bits: 256, nodeName: 'brainpoolP256r1' },
  { name: 'brainpoolP384r1', oid: '1.3.36.3.3.2.8.1.1.11', bits: 384, nodeName: 'brainpoolP384r1' },
  { name: 'brainpoolP512r1', oid: '1.3.36.3.3.2.8.1.1.13', bits: 512, nodeName: 'brainpoolP512r1' },
  { name: 'ed25519', oid: '1.3.6.1.4.1.11591.15.1', bits: 255, nodeName: 'Ed25519' },
  { name: 'ed448', oid: '1.3.101.113', bits: 448, nodeName: 'Ed448' },
  { name: 'cv25519', oid: '1.3.6.1.4.1.3029.1.5.1', bits: 255 },
  { name: 'x448', oid: '1.3.101.111', bits: 448 },
  { name: 'secp256k1', oid: '1.3.132.0.10', bits: 256, nodeName: 'secp256k1' },
];

export const CURVES: readonly Curve[] = CURVE_LIST.map((c) => ({ ...c, oidBytes: oidBytes(c.oid) }));

export function curveByOid(bytes: Uint8Array): Curve | undefined {
  return CURVES.find((c) => c.oidBytes.equals(bytes));
}

export function curveByName(name: string): Curve {
  const c = CURVES.find((x) => x.name === name);
  if (!c) throw new Error(`unknown curve ${name}`);
  return c;
}
