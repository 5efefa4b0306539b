/**
 * Signature verification with node:crypto (OpenSSL): one KeyObject per key, built once
 * from the OpenPGP key material, and the signature value in the form OpenSSL expects.
 * Pure cryptography: whether a signature *counts* is decided by src/cert/ policy.
 */
import { createPublicKey, type KeyObject, verify as cryptoVerify } from 'node:crypto';
import { errorMessage, MalformedPacketError, UnsupportedError } from '../errors.js';
import { derBitString, derNull, derOid, derSeq, derUint } from '../util/der.js';
import { PubKeyAlg } from './algorithms.js';
import type { KeyPacket } from './key-packet.js';
import type { Signature } from './signature.js';

const OID_RSA = Buffer.from('2a864886f70d010101', 'hex');
const OID_DSA = Buffer.from('2a8648ce380401', 'hex');
const OID_EC = Buffer.from('2a8648ce3d0201', 'hex');
const OID_ED25519 = Buffer.from('2b6570', 'hex');
const OID_ED448 = Buffer.from('2b6571', 'hex');

/**
 * SubjectPublicKeyInfo DER for a signing-capable OpenPGP key.
 * @throws UnsupportedError for algorithms we cannot verify with;
 *         MalformedPacketError when OpenSSL rejects the key material.
 */
export function keySpki(key: KeyPacket): Buffer {
  const der = buildSpki(key);
  // OpenSSL rejects material that only looks right, e.g. an EC point off its curve. Found
  // out later, createPublicKey threw inside Verifier.verify() and failed the whole batch
  // (the digest prefix that would stop it is public, so anyone can craft such a key).
  try {
    createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (err) {
    throw new MalformedPacketError(`public key material rejected by OpenSSL: ${errorMessage(err)}`, key.packet.offset, key.packet.tag, { cause: err });
  }
  return der;
}

/** A key ready to verify with, and DER that loads it again quickly (in a worker thread). */
export interface VerificationKey {
  keyObject: KeyObject;
  /** PKCS#1 RSAPublicKey for RSA (OpenSSL 3 loads it about 50 times faster than SPKI), SPKI otherwise. */
  der: Buffer;
  type: 'pkcs1' | 'spki';
}

/**
 * A signing-capable key as a KeyObject, with OpenSSL parsing it once (keySpki followed by
 * createPublicKey parses it twice, each time through the slow SPKI decoder).
 * @throws as keySpki
 */
export function verificationKey(key: KeyPacket): VerificationKey {
  const m = key.material;
  const [der, type]: [Buffer, 'pkcs1' | 'spki'] = m.kind === 'rsa' ? [derSeq(derUint(m.n), derUint(m.e)), 'pkcs1'] : [buildSpki(key), 'spki'];
  try {
    // Ed25519 loads about ten times faster from JWK than through OpenSSL's SPKI decoder.
    if (key.algorithm === PubKeyAlg.EdDSALegacy && m.kind === 'ecc' && m.curve?.name === 'ed25519' && m.point.length === 33 && m.point[0] === 0x40) {
      return { der, type, keyObject: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: m.point.subarray(1).toString('base64url') }, format: 'jwk' }) };
    }
    return { der, type, keyObject: createPublicKey({ key: der, format: 'der', type }) };
  } catch (err) {
    throw new MalformedPacketError(`public key material rejected by OpenSSL: ${errorMessage(err)}`, key.packet.offset, key.packet.tag, { cause: err });
  }
}

function buildSpki(key: KeyPacket): Buffer {
  const m = key.material;
  switch (m.kind) {
    case 'rsa':
      return derSeq(derSeq(derOid(OID_RSA), derNull()), derBitString(derSeq(derUint(m.n), derUint(m.e))));
    case 'dsa':
      return derSeq(derSeq(derOid(OID_DSA), derSeq(derUint(m.p), derUint(m.q), derUint(m.g))), derBitString(derUint(m.y)));
    case 'ecc': {
      if (key.algorithm === PubKeyAlg.EdDSALegacy) {
        if (m.curve?.name !== 'ed25519' || m.point.length !== 33 || m.point[0] !== 0x40) break;
        return derSeq(derSeq(derOid(OID_ED25519)), derBitString(m.point.subarray(1)));
      }
      if (key.algorithm === PubKeyAlg.ECDSA && m.curve?.nodeName && m.point[0] === 0x04) {
        return derSeq(derSeq(derOid(OID_EC), derOid(m.curve.oidBytes)), derBitString(m.point));
      }
      break;
    }
    case 'native':
      if (key.algorithm === PubKeyAlg.Ed25519) return derSeq(derSeq(derOid(OID_ED25519)), derBitString(m.key));
      if (key.algorithm === PubKeyAlg.Ed448) return derSeq(derSeq(derOid(OID_ED448)), derBitString(m.key));
      break;
    default:
      break;
  }
  throw new UnsupportedError('MS_PGP_ALGORITHM', `cannot verify with public-key algorithm ${key.algorithm}`, {
    data: { fingerprint: key.fpr, algorithm: key.algorithm },
  });
}

function leftPad(b: Buffer, size: number): Buffer {
  if (b.length >= size) return b;
  return Buffer.concat([Buffer.alloc(size - b.length), b]);
}

export type VerifyMode = 'digest' | 'data';

/**
 * The signature value as node:crypto wants it, and whether node verifies over the
 * digest (EdDSA signs the hash) or over the data with the named hash.
 */
export function nodeSignature(key: KeyPacket, sig: Signature): { value: Buffer; mode: VerifyMode } {
  switch (sig.pubAlgorithm) {
    case PubKeyAlg.RSA:
    case PubKeyAlg.RSASign: {
      const size = key.material.kind === 'rsa' ? key.material.n.length : sig.values[0].length;
      return { value: leftPad(sig.values[0], size), mode: 'data' };
    }
    case PubKeyAlg.DSA:
    case PubKeyAlg.ECDSA:
      return { value: derSeq(derUint(sig.values[0]), derUint(sig.values[1])), mode: 'data' };
    case PubKeyAlg.EdDSALegacy:
      return { value: Buffer.concat([leftPad(sig.values[0], 32), leftPad(sig.values[1], 32)]), mode: 'digest' };
    case PubKeyAlg.Ed25519:
    case PubKeyAlg.Ed448:
      return { value: sig.values[0], mode: 'digest' };
    default:
      throw new UnsupportedError('MS_PGP_ALGORITHM', `cannot verify signatures of public-key algorithm ${sig.pubAlgorithm}`);
  }
}

/** Verifies one prepared signature. Never throws for a bad signature; returns false. */
export function verifyPrepared(
  keyObject: KeyObject,
  mode: VerifyMode,
  hash: string,
  data: Buffer,
  digest: Buffer,
  value: Buffer,
): boolean {
  try {
    return mode === 'digest' ? cryptoVerify(null, digest, keyObject, value) : cryptoVerify(hash, data, keyObject, value);
  } catch {
    // OpenSSL rejects malformed values (wrong length, bad DER) by throwing: that is a bad signature.
    return false;
  }
}
