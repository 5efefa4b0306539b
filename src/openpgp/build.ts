/**
 * Writing OpenPGP: key packets from node:crypto keys, subpackets, and v4 signatures
 * made with node:crypto. Used by the key translators, the host tools and the test
 * generators; the output is what GnuPG 2.2 reads (v4, legacy EdDSA for Ed25519).
 */
import { createHash, type KeyObject, sign as cryptoSign } from 'node:crypto';
import { UnsupportedError } from '../errors.js';
import { bigintToBytes, bytesToBigint, modInverse } from '../util/bigint.js';
import { u32 } from '../util/bytes.js';
import { privateKeyMaterial, publicKeyMaterial } from '../util/key-material.js';
import { curveByName, HASH_NAMES, PubKeyAlg } from './algorithms.js';
import { type KeyPacket, parseKeyPacket } from './key-packet.js';
import { encodeOldPacket, encodePacket, Tag } from './packets.js';
import { type SigTarget, signedChunks } from './signed-data.js';
import { parseSignature, type Signature, SubpacketType } from './signature.js';

/** RFC 9580 §3.2: bit count, then the magnitude without leading zeros. */
export function encodeMpi(value: Uint8Array): Buffer {
  let i = 0;
  while (i < value.length && value[i] === 0) i++;
  const v = Buffer.from(value.subarray(i));
  const bits = v.length === 0 ? 0 : (v.length - 1) * 8 + (32 - Math.clz32(v[0]));
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bits);
  return Buffer.concat([head, v]);
}

/** Our curve names by JWK name, for the curves we write. */
const NIST_CURVES: Record<string, string> = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' };

/** Public-key algorithm and v4 material for a node:crypto public (or private) key. */
export function publicMaterial(key: KeyObject): { algorithm: number; material: Buffer } {
  const m = publicKeyMaterial(key);
  if (m.type === 'rsa') return { algorithm: PubKeyAlg.RSA, material: Buffer.concat([encodeMpi(m.n), encodeMpi(m.e)]) };
  if (m.type === 'ed25519') {
    const oid = curveByName('ed25519').oidBytes;
    return {
      algorithm: PubKeyAlg.EdDSALegacy,
      material: Buffer.concat([Buffer.from([oid.length]), oid, encodeMpi(Buffer.concat([Buffer.from([0x40]), m.a]))]),
    };
  }
  const name = m.type === 'ec' ? NIST_CURVES[m.curve] : undefined;
  if (m.type === 'ec' && name) {
    const oid = curveByName(name).oidBytes;
    return { algorithm: PubKeyAlg.ECDSA, material: Buffer.concat([Buffer.from([oid.length]), oid, encodeMpi(m.point)]) };
  }
  throw new UnsupportedError('MS_KEY_ALGORITHM', `unsupported key type ${key.asymmetricKeyType}${m.type === 'ec' ? ` (${m.curve})` : ''}`);
}

/** The secret MPIs of a node:crypto private key in OpenPGP order (RSA: d, p, q, u with p < q). */
export function secretMaterial(key: KeyObject): Buffer {
  const m = privateKeyMaterial(key);
  if (m.type === 'rsa') {
    let { p, q, qi: u } = m;
    // OpenPGP stores u = p^-1 mod q with p < q; PKCS#1's qi is q^-1 mod p, so swap when needed.
    // Compared as numbers: minimal magnitudes of different lengths do not sort as bytes.
    if (bytesToBigint(p) < bytesToBigint(q)) {
      u = bigintToBytes(modInverse(bytesToBigint(p), bytesToBigint(q)));
    } else [p, q] = [q, p];
    return Buffer.concat([encodeMpi(m.d), encodeMpi(p), encodeMpi(q), encodeMpi(u)]);
  }
  if (m.type === 'ed25519') return encodeMpi(m.seed);
  if (m.type === 'ec') return encodeMpi(m.d);
  throw new UnsupportedError('MS_KEY_ALGORITHM', `unsupported key type ${key.asymmetricKeyType}`);
}

/** A v4 public-key packet body. */
export function publicKeyBody(key: KeyObject, created: number): Buffer {
  const { algorithm, material } = publicMaterial(key);
  const head = Buffer.alloc(6);
  head[0] = 4;
  head.writeUInt32BE(created, 1);
  head[5] = algorithm;
  return Buffer.concat([head, material]);
}

/** A v4 secret-key packet body, unprotected (S2K usage 0), with its two-octet checksum. */
export function secretKeyBody(key: KeyObject, created: number): Buffer {
  const secret = secretMaterial(key);
  let sum = 0;
  for (const b of secret) sum = (sum + b) & 0xffff;
  const ck = Buffer.alloc(2);
  ck.writeUInt16BE(sum);
  return Buffer.concat([publicKeyBody(key, created), Buffer.from([0]), secret, ck]);
}

/** Parses a freshly built key packet, so built keys are the same type as read ones. */
export function keyPacketFor(key: KeyObject, created: number, opts: { subkey?: boolean; secret?: boolean; oldFormat?: boolean } = {}): KeyPacket {
  const tag = opts.secret ? (opts.subkey ? Tag.SecretSubkey : Tag.SecretKey) : opts.subkey ? Tag.PublicSubkey : Tag.PublicKey;
  const body = opts.secret ? secretKeyBody(key, created) : publicKeyBody(key, created);
  const raw = opts.oldFormat ? encodeOldPacket(tag, body) : encodePacket(tag, body);
  return parseKeyPacket({ tag, offset: 0, raw, body: raw.subarray(raw.length - body.length) });
}

/** One subpacket, RFC 9580 §5.2.3.7. */
export function subpacket(type: number, data: Uint8Array, critical = false): Buffer {
  const len = data.length + 1;
  let head: Buffer;
  if (len < 192) head = Buffer.from([len]);
  else if (len < 16320) head = Buffer.from([((len - 192) >> 8) + 192, (len - 192) & 0xff]);
  else {
    head = Buffer.alloc(5);
    head[0] = 255;
    head.writeUInt32BE(len, 1);
  }
  return Buffer.concat([head, Buffer.from([critical ? type | 0x80 : type]), data]);
}

/** Common subpackets, ready to pass to `signV4`. */
export const sp = {
  created: (t: number) => subpacket(SubpacketType.CreationTime, u32(t)),
  expiresAfter: (s: number) => subpacket(SubpacketType.ExpirationTime, u32(s)),
  keyExpiresAfter: (s: number) => subpacket(SubpacketType.KeyExpirationTime, u32(s)),
  exportable: (yes: boolean) => subpacket(SubpacketType.Exportable, Buffer.from([yes ? 1 : 0]), true),
  revocable: (yes: boolean) => subpacket(SubpacketType.Revocable, Buffer.from([yes ? 1 : 0])),
  trust: (level: number, amount: number) => subpacket(SubpacketType.Trust, Buffer.from([level, amount])),
  /** A regular expression, NUL-terminated and critical, as gpg's tsign writes it. */
  regex: (re: string) => subpacket(SubpacketType.RegularExpression, Buffer.concat([Buffer.from(re, 'utf8'), Buffer.from([0])]), true),
  keyFlags: (flags: number) => subpacket(SubpacketType.KeyFlags, Buffer.from([flags & 0xff])),
  issuerFingerprint: (key: KeyPacket) => subpacket(SubpacketType.IssuerFingerprint, Buffer.concat([Buffer.from([key.version]), key.fingerprint])),
  issuer: (key: KeyPacket) => subpacket(SubpacketType.Issuer, Buffer.from(key.keyId, 'hex')),
  primaryUserId: () => subpacket(SubpacketType.PrimaryUserId, Buffer.from([1])),
  reason: (code: number, text: string) => subpacket(SubpacketType.ReasonForRevocation, Buffer.concat([Buffer.from([code]), Buffer.from(text, 'utf8')])),
  revocationKey: (key: KeyPacket, sensitive = false) =>
    subpacket(SubpacketType.RevocationKey, Buffer.concat([Buffer.from([0x80 | (sensitive ? 0x40 : 0), key.algorithm]), key.fingerprint])),
  embedded: (sigBody: Buffer) => subpacket(SubpacketType.EmbeddedSignature, sigBody),
  preferences: (type: number, algs: number[]) => subpacket(type, Buffer.from(algs)),
  features: (bits: number) => subpacket(SubpacketType.Features, Buffer.from([bits])),
  keyServerNoModify: () => subpacket(SubpacketType.KeyServerPreferences, Buffer.from([0x80])),
} as const;

export interface SignOptions {
  type: number;
  /** The signing key's public packet and its node:crypto private key. */
  signer: KeyPacket;
  privateKey: KeyObject;
  /** Hashed subpackets, already encoded, in order. */
  hashed: Buffer[];
  /** Unhashed subpackets; default: the issuer key ID, as gpg writes it. */
  unhashed?: Buffer[];
  hashAlgorithm?: number;
}

/** Makes a v4 signature over `target`; returns the signature packet (new-format header) parsed. */
export function signV4(target: SigTarget, opts: SignOptions): Signature {
  const hashAlgorithm = opts.hashAlgorithm ?? 8;
  const hashName = HASH_NAMES[hashAlgorithm];
  const hashedArea = Buffer.concat(opts.hashed);
  const head = Buffer.from([4, opts.type, opts.signer.algorithm, hashAlgorithm, hashedArea.length >> 8, hashedArea.length & 0xff]);
  const hashedPart = Buffer.concat([head, hashedArea]);
  const provisional = { version: 4, hashedPart } as Signature;
  const data = Buffer.concat(signedChunks(provisional, target));
  const digest = createHash(hashName).update(data).digest();
  let values: Buffer[];
  switch (opts.signer.algorithm) {
    case PubKeyAlg.RSA:
    case PubKeyAlg.RSASign:
      values = [cryptoSign(hashName, data, opts.privateKey)];
      break;
    case PubKeyAlg.EdDSALegacy: {
      const rs = cryptoSign(null, digest, opts.privateKey);
      values = [rs.subarray(0, 32), rs.subarray(32)];
      break;
    }
    case PubKeyAlg.ECDSA: {
      const rs = cryptoSign(hashName, data, { key: opts.privateKey, dsaEncoding: 'ieee-p1363' });
      values = [rs.subarray(0, rs.length / 2), rs.subarray(rs.length / 2)];
      break;
    }
    default:
      throw new UnsupportedError('MS_KEY_ALGORITHM', `cannot sign with algorithm ${opts.signer.algorithm}`);
  }
  const unhashed = Buffer.concat(opts.unhashed ?? [sp.issuer(opts.signer)]);
  const unhashedLen = Buffer.from([unhashed.length >> 8, unhashed.length & 0xff]);
  const body = Buffer.concat([hashedPart, unhashedLen, unhashed, digest.subarray(0, 2), ...values.map(encodeMpi)]);
  const raw = encodePacket(Tag.Signature, body);
  return parseSignature({ tag: Tag.Signature, offset: 0, raw, body: raw.subarray(raw.length - body.length) });
}

/** A user ID packet. */
export function userIdPacket(text: string): { tag: number; offset: number; raw: Buffer; body: Buffer } {
  const body = Buffer.from(text, 'utf8');
  const raw = encodePacket(Tag.UserId, body);
  return { tag: Tag.UserId, offset: 0, raw, body: raw.subarray(raw.length - body.length) };
}
