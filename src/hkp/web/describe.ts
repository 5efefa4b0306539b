/**
 * Words for what a certificate holds, for people: algorithm names and sizes, capability
 * letters and names, signature classes, the digest a first-party attestation lists for a
 * certification. Pure; no HTML.
 */
import { createHash } from 'node:crypto';
import { HASH_NAMES, PubKeyAlg } from '../../openpgp/algorithms.js';
import type { KeyPacket } from '../../openpgp/key-packet.js';
import { KeyFlag, type Signature, SigType } from '../../openpgp/signature.js';

const ALGORITHM_NAMES: Readonly<Record<number, string>> = {
  [PubKeyAlg.RSA]: 'RSA',
  [PubKeyAlg.RSAEncrypt]: 'RSA (encrypt only)',
  [PubKeyAlg.RSASign]: 'RSA (sign only)',
  [PubKeyAlg.ElGamal]: 'ElGamal',
  [PubKeyAlg.DSA]: 'DSA',
  [PubKeyAlg.ECDH]: 'ECDH',
  [PubKeyAlg.ECDSA]: 'ECDSA',
  [PubKeyAlg.ElGamalSign]: 'ElGamal (sign)',
  [PubKeyAlg.EdDSALegacy]: 'EdDSA',
  [PubKeyAlg.X25519]: 'X25519',
  [PubKeyAlg.X448]: 'X448',
  [PubKeyAlg.Ed25519]: 'Ed25519',
  [PubKeyAlg.Ed448]: 'Ed448',
};

/** "RSA 3072", "EdDSA ed25519 (255 bits)", "ECDH cv25519 (255 bits)", "Ed25519 (255 bits)", "algorithm 99". */
export function algorithmLabel(key: KeyPacket): string {
  const name = ALGORITHM_NAMES[key.algorithm] ?? `algorithm ${key.algorithm}`;
  const m = key.material;
  const size = key.bits > 0 ? ` (${key.bits} bits)` : '';
  if (m.kind === 'rsa' || m.kind === 'dsa' || m.kind === 'elgamal') return `${name} ${key.bits}`;
  if (m.kind === 'ecc') return `${name} ${m.curve?.name ?? 'unknown curve'}${size}`;
  return `${name}${size}`;
}

/** Capability names from key flags, in gpg's order (sign, certify, encrypt, authenticate). */
export function capabilities(flags: number): string[] {
  const out: string[] = [];
  if (flags & KeyFlag.Sign) out.push('sign');
  if (flags & KeyFlag.Certify) out.push('certify');
  if (flags & (KeyFlag.EncryptCommunications | KeyFlag.EncryptStorage)) out.push('encrypt');
  if (flags & KeyFlag.Authenticate) out.push('authenticate');
  return out;
}

const CLASS_NAMES: Readonly<Record<number, string>> = {
  [SigType.GenericCert]: 'certification',
  [SigType.PersonaCert]: 'persona certification',
  [SigType.CasualCert]: 'casual certification',
  [SigType.PositiveCert]: 'positive certification',
  [SigType.CertRevocation]: 'certification revocation',
};

/** A signature class as words ("casual certification"); hex for the rest. */
export function signatureClass(type: number): string {
  return CLASS_NAMES[type] ?? `signature class 0x${type.toString(16).padStart(2, '0')}`;
}

/**
 * The digest an attestation (0x16) lists for a certification (draft-dkg-openpgp-1pa3pc,
 * RFC 9580 §5.2.4 for third-party confirmations): 0x88, a four-octet length, then the
 * signature body with an empty unhashed area; undefined for a v3 signature or an unknown hash.
 */
export function attestationDigest(certification: Signature, hashAlgorithm: number): Buffer | undefined {
  const name = HASH_NAMES[hashAlgorithm];
  if (!name || certification.version < 4) return undefined;
  const body = certification.packet.body;
  const hashedEnd = certification.hashedPart.length;
  const lenSize = certification.version === 6 ? 4 : 2;
  if (body.length < hashedEnd + lenSize) return undefined;
  const unhashedLen = lenSize === 4 ? body.readUInt32BE(hashedEnd) : body.readUInt16BE(hashedEnd);
  const rest = body.subarray(hashedEnd + lenSize + unhashedLen);
  const stripped = Buffer.concat([body.subarray(0, hashedEnd), Buffer.alloc(lenSize), rest]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(stripped.length);
  return createHash(name).update(Buffer.from([0x88])).update(len).update(stripped).digest();
}
