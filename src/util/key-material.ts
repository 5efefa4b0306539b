/**
 * The numbers inside a node:crypto key, read from its DER export (SPKI, PKCS#8).
 *
 * Never from export({ format: 'jwk' }) nor asymmetricKeyDetails: on Node 20 both hold
 * the key's mutex while allocating on the JS heap, and a garbage collection that then
 * finalises the KeyGenJob which made the key waits for the same mutex, so a process that
 * generates keys hangs for good (issue 9, finding 12). DER export takes no such lock.
 * Every caller that needs raw key material goes through here.
 */
import { createPublicKey, ECDH, type KeyObject } from 'node:crypto';
import { type DerElement, derBitStringValue, derContent, derElements, derSequenceItems, derUintValue } from './der.js';

const OID_RSA = '2a864886f70d010101';
const OID_EC = '2a8648ce3d0201';
const OID_ED25519 = '2b6570';

/** Named EC curves by the hex of their OID: JWK name, and OpenSSL's name to decompress a point. */
const EC_CURVES: Record<string, { jwk: string; openssl: string }> = {
  '2a8648ce3d030107': { jwk: 'P-256', openssl: 'prime256v1' },
  '2b81040022': { jwk: 'P-384', openssl: 'secp384r1' },
  '2b81040023': { jwk: 'P-521', openssl: 'secp521r1' },
  '2b8104000a': { jwk: 'secp256k1', openssl: 'secp256k1' },
};

/** Big-endian magnitudes, without leading zeros unless noted. */
export type PublicKeyMaterial =
  | { type: 'rsa'; n: Buffer; e: Buffer }
  /** a: the 32-octet public key. */
  | { type: 'ed25519'; a: Buffer }
  /** curve: the JWK name (P-256, P-384, P-521, secp256k1); point: uncompressed, 04‖x‖y, fixed width. */
  | { type: 'ec'; curve: string; point: Buffer }
  /** Anything else (DSA, RSA-PSS, Ed448, an unnamed curve, …), by node's asymmetricKeyType. */
  | { type: 'other'; keyType: string };

export type PrivateKeyMaterial =
  /** qi = q⁻¹ mod p, as in PKCS#1 and JWK. */
  | { type: 'rsa'; n: Buffer; e: Buffer; d: Buffer; p: Buffer; q: Buffer; qi: Buffer }
  /** seed: the 32-octet private key (RFC 8032's k, JWK's d). */
  | { type: 'ed25519'; a: Buffer; seed: Buffer }
  /** d: the private scalar, fixed width as SEC1 writes it. */
  | { type: 'ec'; curve: string; point: Buffer; d: Buffer }
  | { type: 'other'; keyType: string };

/** The public material of a public or private key. */
export function publicKeyMaterial(key: KeyObject): PublicKeyMaterial {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  // SubjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier, BIT STRING }
  const [algId, keyBits] = derSequenceItems(pub.export({ type: 'spki', format: 'der' }), 'SubjectPublicKeyInfo');
  const [alg, params] = derElements(derContent(algId, 0x30, 'AlgorithmIdentifier'));
  const oid = derContent(alg, 0x06, 'algorithm OID').toString('hex');
  const bits = derBitStringValue(keyBits, 'subjectPublicKey');
  const other = { type: 'other', keyType: String(key.asymmetricKeyType) } as const;
  if (oid === OID_ED25519) {
    if (bits.length !== 32) throw new Error('DER: Ed25519 public key is not 32 octets');
    return { type: 'ed25519', a: bits };
  }
  if (oid === OID_RSA) {
    const [n, e] = integers(derSequenceItems(bits, 'RSAPublicKey'), 2);
    return { type: 'rsa', n, e };
  }
  if (oid === OID_EC) {
    const curve = EC_CURVES[derContent(params, 0x06, 'named curve').toString('hex')];
    if (!curve) return other;
    // A key imported with a compressed point exports it compressed.
    const point = bits[0] === 0x04 ? bits : (ECDH.convertKey(bits, curve.openssl, undefined, undefined, 'uncompressed') as Buffer);
    return { type: 'ec', curve: curve.jwk, point };
  }
  return other;
}

/** The private (and public) material of a private key. @throws Error for a public key */
export function privateKeyMaterial(key: KeyObject): PrivateKeyMaterial {
  if (key.type !== 'private') throw new Error('privateKeyMaterial needs a private key');
  const pub = publicKeyMaterial(key);
  if (pub.type === 'other') return pub;
  // PrivateKeyInfo: SEQUENCE { version, AlgorithmIdentifier, OCTET STRING privateKey, … }
  const info = derSequenceItems(key.export({ type: 'pkcs8', format: 'der' }), 'PrivateKeyInfo');
  const inner = derContent(info[2], 0x04, 'PKCS#8 privateKey');
  if (pub.type === 'ed25519') {
    // RFC 8410: CurvePrivateKey ::= OCTET STRING
    const els = derElements(inner);
    const seed = derContent(els.length === 1 ? els[0] : undefined, 0x04, 'CurvePrivateKey');
    if (seed.length !== 32) throw new Error('DER: Ed25519 private key is not 32 octets');
    return { ...pub, seed };
  }
  if (pub.type === 'ec') {
    // SEC1 ECPrivateKey: SEQUENCE { version 1, OCTET STRING privateKey, [0] params, [1] publicKey }
    return { ...pub, d: derContent(derSequenceItems(inner, 'ECPrivateKey')[1], 0x04, 'EC private key') };
  }
  // PKCS#1 RSAPrivateKey: SEQUENCE { version, n, e, d, p, q, dp, dq, qi, … }
  const [, , , d, p, q, , , qi] = integers(derSequenceItems(inner, 'RSAPrivateKey'), 9);
  return { ...pub, d, p, q, qi };
}

/** The first `count` items as INTEGER magnitudes. @throws Error when one is missing or not an INTEGER */
function integers(items: DerElement[], count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => derUintValue(derContent(items[i], 0x02, 'INTEGER')));
}
