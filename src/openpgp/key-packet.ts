/**
 * Public-key and secret-key packets (RFC 9580 §5.5): version 4 and 6, every public-key
 * algorithm in the RFC. Keys of unknown algorithms still get a fingerprint, so a
 * certificate made with one still loads; it just cannot verify signatures.
 */
import { hash } from 'node:crypto';
import { MalformedPacketError, UnsupportedError } from '../errors.js';
import { hex } from '../util/bytes.js';
import { type Curve, curveByOid, PubKeyAlg } from './algorithms.js';
import { type Packet, Tag } from './packets.js';

export type KeyMaterial =
  | { kind: 'rsa'; n: Buffer; e: Buffer }
  | { kind: 'dsa'; p: Buffer; q: Buffer; g: Buffer; y: Buffer }
  | { kind: 'elgamal'; p: Buffer; g: Buffer; y: Buffer }
  | { kind: 'ecc'; oid: Buffer; curve: Curve | undefined; point: Buffer; kdf?: Buffer }
  | { kind: 'native'; key: Buffer }
  | { kind: 'unknown' };

export interface KeyPacket {
  version: number;
  /** Creation time, Unix seconds. */
  created: number;
  algorithm: number;
  material: KeyMaterial;
  /** Fingerprint bytes: 20 for v4, 32 for v6. */
  fingerprint: Buffer;
  /** Uppercase hex fingerprint. */
  fpr: string;
  /** Uppercase hex key ID (16 digits): low 64 bits of a v4 fingerprint, high 64 of a v6 one. */
  keyId: string;
  /** Public key size in bits, as gpg reports it. */
  bits: number;
  /** The public-key packet body (for a secret key, its public part). */
  publicBody: Buffer;
  /** The secret-key part after the public fields, present for tags 5 and 7. */
  secretBody?: Buffer;
  isSubkey: boolean;
  packet: Packet;
}

/** Checks that the multiprecision integer (RFC 9580 §3.2) at `pos` ends by `end`; returns where it ends. */
export function mpiEnd(bytes: Buffer, pos: number, end: number, offset: number, tag: number): number {
  if (pos + 2 > end) throw new MalformedPacketError('truncated MPI', offset, tag);
  const bits = bytes.readUInt16BE(pos);
  const next = pos + 2 + ((bits + 7) >> 3);
  if (next > end) throw new MalformedPacketError(`MPI of ${bits} bits runs past the packet end`, offset, tag);
  return next;
}

/** The bytes of the MPI from `pos` to `next` (as `mpiEnd` found them), without leading zeros. */
export function mpiValue(bytes: Buffer, pos: number, next: number): Buffer {
  let i = pos + 2;
  while (i < next - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i, next);
}

/** Reads a multiprecision integer; returns its bytes without leading zeros and the new position. */
export function readMpi(body: Buffer, pos: number, offset: number, tag: number): [Buffer, number] {
  const next = mpiEnd(body, pos, body.length, offset, tag);
  return [mpiValue(body, pos, next), next];
}

function bitLength(b: Buffer): number {
  if (b.length === 0) return 0;
  return (b.length - 1) * 8 + (32 - Math.clz32(b[0]));
}

function readOid(body: Buffer, pos: number, offset: number, tag: number): [Buffer, number] {
  if (pos >= body.length) throw new MalformedPacketError('truncated curve OID', offset, tag);
  const len = body[pos];
  if (len === 0 || len === 0xff) throw new MalformedPacketError('reserved curve OID length', offset, tag);
  if (pos + 1 + len > body.length) throw new MalformedPacketError('truncated curve OID', offset, tag);
  return [body.subarray(pos + 1, pos + 1 + len), pos + 1 + len];
}

const NATIVE_SIZES: Readonly<Record<number, number>> = {
  [PubKeyAlg.X25519]: 32,
  [PubKeyAlg.X448]: 56,
  [PubKeyAlg.Ed25519]: 32,
  [PubKeyAlg.Ed448]: 57,
};

/** Parses the algorithm-specific fields; returns the material and where they end. */
function readMaterial(alg: number, body: Buffer, pos: number, end: number, offset: number, tag: number): [KeyMaterial, number] {
  const view = body.subarray(0, end);
  const mpis = (count: number): [Buffer[], number] => {
    const out: Buffer[] = [];
    let p = pos;
    for (let i = 0; i < count; i++) {
      const [v, next] = readMpi(view, p, offset, tag);
      out.push(v);
      p = next;
    }
    return [out, p];
  };
  switch (alg) {
    case PubKeyAlg.RSA:
    case PubKeyAlg.RSAEncrypt:
    case PubKeyAlg.RSASign: {
      const [[n, e], p] = mpis(2);
      return [{ kind: 'rsa', n, e }, p];
    }
    case PubKeyAlg.DSA: {
      const [[pp, q, g, y], p] = mpis(4);
      return [{ kind: 'dsa', p: pp, q, g, y }, p];
    }
    case PubKeyAlg.ElGamal:
    case PubKeyAlg.ElGamalSign: {
      const [[pp, g, y], p] = mpis(3);
      return [{ kind: 'elgamal', p: pp, g, y }, p];
    }
    case PubKeyAlg.ECDSA:
    case PubKeyAlg.EdDSALegacy:
    case PubKeyAlg.ECDH: {
      const [oid, p1] = readOid(view, pos, offset, tag);
      const [point, p2] = readMpi(view, p1, offset, tag);
      let p = p2;
      let kdf: Buffer | undefined;
      if (alg === PubKeyAlg.ECDH) {
        if (p >= view.length) throw new MalformedPacketError('truncated ECDH KDF parameters', offset, tag);
        const len = view[p];
        if (p + 1 + len > view.length) throw new MalformedPacketError('truncated ECDH KDF parameters', offset, tag);
        kdf = view.subarray(p + 1, p + 1 + len);
        p += 1 + len;
      }
      return [{ kind: 'ecc', oid, curve: curveByOid(oid), point, kdf }, p];
    }
    default: {
      const size = NATIVE_SIZES[alg];
      if (size !== undefined) {
        if (pos + size > view.length) throw new MalformedPacketError(`truncated ${size}-byte public key`, offset, tag);
        return [{ kind: 'native', key: view.subarray(pos, pos + size) }, pos + size];
      }
      return [{ kind: 'unknown' }, end];
    }
  }
}

function keyBits(alg: number, m: KeyMaterial): number {
  switch (m.kind) {
    case 'rsa':
      return bitLength(m.n);
    case 'dsa':
    case 'elgamal':
      return bitLength(m.p);
    case 'ecc':
      return m.curve?.bits ?? 0;
    case 'native':
      return alg === PubKeyAlg.Ed448 || alg === PubKeyAlg.X448 ? 448 : 255;
    default:
      return 0;
  }
}

/** Writes the prefix a signature hashes before a key (RFC 9580 §5.2.4): 0x99/len16 for v4, 0x9B/len32 for v6. */
function writeKeyHashPrefix(version: number, bodyLength: number, out: Buffer): void {
  if (version === 6) {
    out[0] = 0x9b;
    out.writeUInt32BE(bodyLength, 1);
  } else {
    out[0] = 0x99;
    out[1] = (bodyLength >> 8) & 0xff;
    out[2] = bodyLength & 0xff;
  }
}

const prefixSize = (version: number): number => (version === 6 ? 5 : 3);

/** The bytes a signature hashes for this key before its body. */
export function keyHashPrefix(version: number, publicBody: Buffer): Buffer {
  const prefix = Buffer.alloc(prefixSize(version));
  writeKeyHashPrefix(version, publicBody.length, prefix);
  return prefix;
}

/** Room for the fingerprint input of all but huge keys, so one-shot hashing needs no new buffer. */
const scratch = Buffer.allocUnsafeSlow(4096);

/** The fingerprint (RFC 9580 §5.5.4): SHA-1 (v4) or SHA-256 (v6) over the hash prefix and the public body. */
function fingerprintOf(version: number, publicBody: Buffer): Buffer {
  const at = prefixSize(version);
  const size = at + publicBody.length;
  const input = size <= scratch.length ? scratch : Buffer.allocUnsafe(size);
  writeKeyHashPrefix(version, publicBody.length, input);
  publicBody.copy(input, at);
  return hash(version === 6 ? 'sha256' : 'sha1', input.subarray(0, size), 'buffer');
}

/**
 * Parses a key packet (tags 5, 6, 7, 14).
 * @throws MalformedPacketError on a truncated or inconsistent body;
 *         UnsupportedError (MS_PGP_KEY_VERSION) for versions other than 4 and 6.
 */
export function parseKeyPacket(packet: Packet): KeyPacket {
  const { body, offset, tag } = packet;
  if (body.length < 6) throw new MalformedPacketError('key packet too short', offset, tag);
  const version = body[0];
  if (version !== 4 && version !== 6) {
    throw new UnsupportedError('MS_PGP_KEY_VERSION', `unsupported key packet version ${version} (packet tag ${tag} at offset ${offset})`, {
      data: { offset, tag, version },
    });
  }
  const created = body.readUInt32BE(1);
  const algorithm = body[5];
  let pos = 6;
  let materialEnd = body.length;
  if (version === 6) {
    if (body.length < 10) throw new MalformedPacketError('v6 key packet too short', offset, tag);
    const len = body.readUInt32BE(6);
    pos = 10;
    if (pos + len > body.length) throw new MalformedPacketError('v6 key material length runs past the packet end', offset, tag);
    materialEnd = pos + len;
  }
  const isSecret = tag === Tag.SecretKey || tag === Tag.SecretSubkey;
  if (isSecret && version === 4 && NATIVE_SIZES[algorithm] === undefined && ![1, 2, 3, 16, 17, 18, 19, 20, 22].includes(algorithm)) {
    throw new UnsupportedError('MS_PGP_ALGORITHM', `secret key of unknown algorithm ${algorithm} (packet tag ${tag} at offset ${offset})`);
  }
  const [material, end] = readMaterial(algorithm, body, pos, materialEnd, offset, tag);
  const publicEnd = version === 6 ? materialEnd : end;
  if (!isSecret && publicEnd !== body.length) {
    throw new MalformedPacketError(`${body.length - publicEnd} unexpected bytes after the public key material`, offset, tag);
  }
  const publicBody = body.subarray(0, publicEnd);
  const fingerprint = fingerprintOf(version, publicBody);
  const fpr = hex(fingerprint);
  return {
    version,
    created,
    algorithm,
    material,
    fingerprint,
    fpr,
    keyId: version === 6 ? fpr.slice(0, 16) : fpr.slice(-16),
    bits: keyBits(algorithm, material),
    publicBody,
    secretBody: isSecret ? body.subarray(publicEnd) : undefined,
    isSubkey: tag === Tag.PublicSubkey || tag === Tag.SecretSubkey,
    packet,
  };
}
