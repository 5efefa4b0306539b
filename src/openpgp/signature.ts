/**
 * Signature packets (RFC 9580 §5.2): versions 3, 4 and 6, with every subpacket the
 * web of trust needs decoded from the raw areas (all regular expressions, trust
 * level and amount, revocation keys, attested certifications), and the exact bytes
 * kept for hashing and for writing back.
 */
import { MalformedPacketError, UnsupportedError } from '../errors.js';
import { hex } from '../util/bytes.js';
import { readMpi } from './key-packet.js';
import type { Packet } from './packets.js';

export const SigType = {
  Binary: 0x00,
  Text: 0x01,
  Standalone: 0x02,
  GenericCert: 0x10,
  PersonaCert: 0x11,
  CasualCert: 0x12,
  PositiveCert: 0x13,
  Attestation: 0x16,
  SubkeyBinding: 0x18,
  PrimaryKeyBinding: 0x19,
  DirectKey: 0x1f,
  KeyRevocation: 0x20,
  SubkeyRevocation: 0x28,
  CertRevocation: 0x30,
  Timestamp: 0x40,
  ThirdPartyConfirmation: 0x50,
} as const;

export const SubpacketType = {
  CreationTime: 2,
  ExpirationTime: 3,
  Exportable: 4,
  Trust: 5,
  RegularExpression: 6,
  Revocable: 7,
  KeyExpirationTime: 9,
  PreferredSymmetric: 11,
  RevocationKey: 12,
  Issuer: 16,
  Notation: 20,
  PreferredHash: 21,
  PreferredCompression: 22,
  KeyServerPreferences: 23,
  PreferredKeyServer: 24,
  PrimaryUserId: 25,
  PolicyUri: 26,
  KeyFlags: 27,
  SignersUserId: 28,
  ReasonForRevocation: 29,
  Features: 30,
  SignatureTarget: 31,
  EmbeddedSignature: 32,
  IssuerFingerprint: 33,
  IntendedRecipient: 35,
  AttestedCertifications: 37,
  PreferredAead: 39,
} as const;

/** Subpacket types we act on; an unknown one marked critical in the hashed area voids the signature (RFC 9580 §5.2.3.7). */
const UNDERSTOOD = new Set<number>([2, 3, 4, 5, 6, 7, 9, 11, 12, 16, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 35, 37, 39]);

export interface Subpacket {
  type: number;
  critical: boolean;
  hashed: boolean;
  data: Buffer;
}

export interface RevocationKey {
  /** Class octet; bit 0x40 marks it sensitive. */
  class: number;
  algorithm: number;
  fingerprint: string;
}

export interface Notation {
  name: string;
  value: Buffer;
  humanReadable: boolean;
  critical: boolean;
}

export interface Signature {
  version: number;
  type: number;
  pubAlgorithm: number;
  hashAlgorithm: number;
  /** First two bytes of the signed digest. */
  left16: Buffer;
  /** Salt of a v6 signature. */
  salt?: Buffer;
  /** Algorithm-specific signature fields (MPIs, or native bytes for Ed25519/Ed448). */
  values: Buffer[];
  subpackets: Subpacket[];
  /** The bytes hashed after the data: v3 type+time, v4/v6 the version through the hashed area. */
  hashedPart: Buffer;

  // Decoded subpackets (hashed area unless noted).
  created: number;
  /** Signature validity period in seconds; 0 or absent means none. */
  expiresAfter?: number;
  keyExpiresAfter?: number;
  exportable: boolean;
  revocable: boolean;
  trust?: { level: number; amount: number };
  /** Every Regular Expression subpacket, without its trailing NUL. */
  regexes: string[];
  keyFlags?: number;
  primaryUserId: boolean;
  revocationKeys: RevocationKey[];
  revocationReason?: { code: number; text: string };
  /** Issuer fingerprints (hex), hashed or unhashed. */
  issuerFingerprints: string[];
  /** Issuer key IDs (hex), hashed or unhashed, and those implied by issuer fingerprints. */
  issuerKeyIds: string[];
  notations: Notation[];
  /** Digests listed by an Attested Certifications subpacket. */
  attested: Buffer[];
  embedded: Buffer[];
  /** Names of problems that make the signature unusable regardless of cryptography. */
  defects: string[];
  packet: Packet;
}

function readSubpackets(area: Buffer, hashed: boolean, offset: number, tag: number): Subpacket[] {
  const out: Subpacket[] = [];
  let pos = 0;
  while (pos < area.length) {
    const first = area[pos];
    let len: number;
    if (first < 192) {
      len = first;
      pos += 1;
    } else if (first < 255) {
      if (pos + 2 > area.length) throw new MalformedPacketError('truncated subpacket length', offset, tag);
      len = ((first - 192) << 8) + area[pos + 1] + 192;
      pos += 2;
    } else {
      if (pos + 5 > area.length) throw new MalformedPacketError('truncated subpacket length', offset, tag);
      len = area.readUInt32BE(pos + 1);
      pos += 5;
    }
    if (len === 0) throw new MalformedPacketError('subpacket of length zero', offset, tag);
    if (pos + len > area.length) throw new MalformedPacketError('subpacket runs past its area', offset, tag);
    const typeByte = area[pos];
    out.push({ type: typeByte & 0x7f, critical: (typeByte & 0x80) !== 0, hashed, data: area.subarray(pos + 1, pos + len) });
    pos += len;
  }
  return out;
}

function need(sp: Subpacket, n: number, offset: number, tag: number): void {
  if (sp.data.length < n) throw new MalformedPacketError(`subpacket type ${sp.type} too short`, offset, tag);
}

const SIG_VALUE_COUNT: Readonly<Record<number, number>> = { 1: 1, 3: 1, 17: 2, 19: 2, 20: 2, 22: 2 };
const NATIVE_SIG_SIZE: Readonly<Record<number, number>> = { 27: 64, 28: 114 };

/**
 * Parses a signature packet.
 * @throws MalformedPacketError on a truncated or inconsistent body;
 *         UnsupportedError (MS_PGP_SIG_VERSION) for versions other than 3, 4 and 6.
 */
export function parseSignature(packet: Packet): Signature {
  const { body, offset, tag } = packet;
  if (body.length < 1) throw new MalformedPacketError('empty signature packet', offset, tag);
  const version = body[0];
  const sig: Signature = {
    version,
    type: 0,
    pubAlgorithm: 0,
    hashAlgorithm: 0,
    left16: Buffer.alloc(0),
    values: [],
    subpackets: [],
    hashedPart: Buffer.alloc(0),
    created: 0,
    exportable: true,
    revocable: true,
    regexes: [],
    primaryUserId: false,
    revocationKeys: [],
    issuerFingerprints: [],
    issuerKeyIds: [],
    notations: [],
    attested: [],
    embedded: [],
    defects: [],
    packet,
  };
  let pos: number;
  if (version === 3 || version === 2) {
    if (body.length < 19 || body[1] !== 5) throw new MalformedPacketError('malformed v3 signature header', offset, tag);
    sig.type = body[2];
    sig.created = body.readUInt32BE(3);
    sig.hashedPart = body.subarray(2, 7);
    sig.issuerKeyIds.push(hex(body.subarray(7, 15)));
    sig.pubAlgorithm = body[15];
    sig.hashAlgorithm = body[16];
    sig.left16 = body.subarray(17, 19);
    pos = 19;
  } else if (version === 4 || version === 6) {
    const lenSize = version === 6 ? 4 : 2;
    if (body.length < 4 + lenSize) throw new MalformedPacketError('truncated signature header', offset, tag);
    sig.type = body[1];
    sig.pubAlgorithm = body[2];
    sig.hashAlgorithm = body[3];
    const hashedLen = version === 6 ? body.readUInt32BE(4) : body.readUInt16BE(4);
    pos = 4 + lenSize;
    if (pos + hashedLen > body.length) throw new MalformedPacketError('hashed subpacket area runs past the packet end', offset, tag);
    const hashedArea = body.subarray(pos, pos + hashedLen);
    sig.hashedPart = body.subarray(0, pos + hashedLen);
    pos += hashedLen;
    if (pos + lenSize > body.length) throw new MalformedPacketError('truncated unhashed subpacket length', offset, tag);
    const unhashedLen = version === 6 ? body.readUInt32BE(pos) : body.readUInt16BE(pos);
    pos += lenSize;
    if (pos + unhashedLen > body.length) throw new MalformedPacketError('unhashed subpacket area runs past the packet end', offset, tag);
    const unhashedArea = body.subarray(pos, pos + unhashedLen);
    pos += unhashedLen;
    sig.subpackets = [...readSubpackets(hashedArea, true, offset, tag), ...readSubpackets(unhashedArea, false, offset, tag)];
    if (pos + 2 > body.length) throw new MalformedPacketError('truncated signature', offset, tag);
    sig.left16 = body.subarray(pos, pos + 2);
    pos += 2;
    if (version === 6) {
      // Without this check a v6 signature cut right after the digest prefix read an
      // undefined salt length, and parsed (NaN positions) into an empty salt and value.
      if (pos >= body.length) throw new MalformedPacketError('truncated signature salt', offset, tag);
      const saltLen = body[pos];
      if (pos + 1 + saltLen > body.length) throw new MalformedPacketError('truncated signature salt', offset, tag);
      sig.salt = body.subarray(pos + 1, pos + 1 + saltLen);
      pos += 1 + saltLen;
    }
    decodeSubpackets(sig, offset, tag);
  } else {
    throw new UnsupportedError('MS_PGP_SIG_VERSION', `unsupported signature version ${version} (packet tag ${tag} at offset ${offset})`, {
      data: { offset, tag, version },
    });
  }
  const count = SIG_VALUE_COUNT[sig.pubAlgorithm];
  const nativeSize = NATIVE_SIG_SIZE[sig.pubAlgorithm];
  if (count !== undefined) {
    for (let i = 0; i < count; i++) {
      const [v, next] = readMpi(body, pos, offset, tag);
      sig.values.push(v);
      pos = next;
    }
  } else if (nativeSize !== undefined) {
    if (pos + nativeSize > body.length) throw new MalformedPacketError('truncated signature value', offset, tag);
    sig.values.push(body.subarray(pos, pos + nativeSize));
    pos += nativeSize;
  } else {
    sig.values.push(body.subarray(pos));
    pos = body.length;
  }
  return sig;
}

function decodeSubpackets(sig: Signature, offset: number, tag: number): void {
  for (const sp of sig.subpackets) {
    const d = sp.data;
    // Issuer identification is advisory and may sit in the unhashed area; everything else must be hashed.
    if (sp.type === SubpacketType.Issuer) {
      need(sp, 8, offset, tag);
      sig.issuerKeyIds.push(hex(d.subarray(0, 8)));
      continue;
    }
    if (sp.type === SubpacketType.IssuerFingerprint) {
      need(sp, 2, offset, tag);
      const fpr = hex(d.subarray(1));
      sig.issuerFingerprints.push(fpr);
      sig.issuerKeyIds.push(d[0] === 4 ? fpr.slice(-16) : fpr.slice(0, 16));
      continue;
    }
    if (sp.type === SubpacketType.EmbeddedSignature) {
      sig.embedded.push(d);
      continue;
    }
    if (!sp.hashed) continue;
    switch (sp.type) {
      case SubpacketType.CreationTime:
        need(sp, 4, offset, tag);
        sig.created = d.readUInt32BE(0);
        break;
      case SubpacketType.ExpirationTime:
        need(sp, 4, offset, tag);
        sig.expiresAfter = d.readUInt32BE(0);
        break;
      case SubpacketType.KeyExpirationTime:
        need(sp, 4, offset, tag);
        sig.keyExpiresAfter = d.readUInt32BE(0);
        break;
      case SubpacketType.Exportable:
        need(sp, 1, offset, tag);
        sig.exportable = d[0] !== 0;
        break;
      case SubpacketType.Revocable:
        need(sp, 1, offset, tag);
        sig.revocable = d[0] !== 0;
        break;
      case SubpacketType.Trust:
        need(sp, 2, offset, tag);
        sig.trust = { level: d[0], amount: d[1] };
        break;
      case SubpacketType.RegularExpression: {
        const end = d.indexOf(0);
        sig.regexes.push(d.subarray(0, end < 0 ? d.length : end).toString('utf8'));
        break;
      }
      case SubpacketType.KeyFlags:
        sig.keyFlags = 0;
        for (let i = 0; i < Math.min(d.length, 4); i++) sig.keyFlags |= d[i] << (8 * i);
        break;
      case SubpacketType.PrimaryUserId:
        sig.primaryUserId = d.length > 0 && d[0] !== 0;
        break;
      case SubpacketType.RevocationKey:
        need(sp, 22, offset, tag);
        sig.revocationKeys.push({ class: d[0], algorithm: d[1], fingerprint: hex(d.subarray(2)) });
        break;
      case SubpacketType.ReasonForRevocation:
        need(sp, 1, offset, tag);
        sig.revocationReason = { code: d[0], text: d.subarray(1).toString('utf8') };
        break;
      case SubpacketType.Notation: {
        need(sp, 8, offset, tag);
        const nameLen = d.readUInt16BE(4);
        const valueLen = d.readUInt16BE(6);
        if (8 + nameLen + valueLen > d.length) throw new MalformedPacketError('notation runs past its subpacket', offset, tag);
        sig.notations.push({
          name: d.subarray(8, 8 + nameLen).toString('utf8'),
          value: d.subarray(8 + nameLen, 8 + nameLen + valueLen),
          humanReadable: (d[0] & 0x80) !== 0,
          critical: sp.critical,
        });
        break;
      }
      case SubpacketType.AttestedCertifications: {
        const size = attestationDigestSize(sig.hashAlgorithm);
        if (size === 0 || d.length % size !== 0) throw new MalformedPacketError('attested certifications list is not a whole number of digests', offset, tag);
        for (let i = 0; i < d.length; i += size) sig.attested.push(d.subarray(i, i + size));
        break;
      }
      default:
        break;
    }
    if (sp.critical && !UNDERSTOOD.has(sp.type)) sig.defects.push(`unknown critical subpacket ${sp.type}`);
    if (sp.critical && sp.type === SubpacketType.Notation) sig.defects.push('critical notation');
  }
  // A v4 signature without a hashed creation time is invalid (RFC 9580 §5.2.3.11).
  if (!sig.subpackets.some((s) => s.hashed && s.type === SubpacketType.CreationTime)) sig.defects.push('no hashed creation time');
}

function attestationDigestSize(hashAlg: number): number {
  return ({ 2: 20, 3: 20, 8: 32, 9: 48, 10: 64, 11: 28, 12: 32, 14: 64 } as Record<number, number>)[hashAlg] ?? 0;
}

/** When the signature stops being valid, Unix seconds; Infinity if never. */
export function signatureExpiry(sig: Signature): number {
  return sig.expiresAfter ? sig.created + sig.expiresAfter : Number.POSITIVE_INFINITY;
}

/** Whether a revocation's reason makes it retroactive ("hard"): no reason, 0 (none given), 2 (compromised), or unknown. */
export function isHardRevocation(sig: Signature): boolean {
  const code = sig.revocationReason?.code;
  return code === undefined || !(code === 1 || code === 3 || code === 32);
}

export const KeyFlag = {
  Certify: 0x01,
  Sign: 0x02,
  EncryptCommunications: 0x04,
  EncryptStorage: 0x08,
  Split: 0x10,
  Authenticate: 0x20,
  Shared: 0x80,
} as const;
