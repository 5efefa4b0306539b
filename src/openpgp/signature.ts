/**
 * Signature packets (RFC 9580 §5.2): versions 3, 4 and 6, with every subpacket the
 * web of trust needs decoded from the raw areas (all regular expressions, trust
 * level and amount, revocation keys, attested certifications), and the exact bytes
 * kept for hashing and for writing back.
 */
import { MalformedPacketError, UnsupportedError } from '../errors.js';
import { hexRange } from '../util/bytes.js';
import { mpiEnd, mpiValue } from './key-packet.js';
import { type Packet, PacketView } from './packets.js';

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

/**
 * A signature as parsed. Its lists may be one shared, frozen empty array (most signatures
 * have no regexes, revocation keys or defects): copy a list before changing it.
 */
export interface Signature {
  version: number;
  type: number;
  pubAlgorithm: number;
  hashAlgorithm: number;
  /** First two bytes of the signed digest. */
  readonly left16: Buffer;
  /** Salt of a v6 signature. */
  readonly salt?: Buffer;
  /** Algorithm-specific signature fields (MPIs, or native bytes for Ed25519/Ed448). */
  readonly values: Buffer[];
  readonly subpackets: Subpacket[];
  /** The bytes hashed after the data: v3 type+time, v4/v6 the version through the hashed area. */
  readonly hashedPart: Buffer;

  // Decoded subpackets (hashed area unless noted).
  created: number;
  /** Signature validity period in seconds; 0 or absent means none. */
  readonly expiresAfter?: number;
  readonly keyExpiresAfter?: number;
  readonly exportable: boolean;
  readonly revocable: boolean;
  readonly trust?: { level: number; amount: number };
  /** Every Regular Expression subpacket, without its trailing NUL. */
  readonly regexes: string[];
  readonly keyFlags?: number;
  readonly primaryUserId: boolean;
  readonly revocationKeys: RevocationKey[];
  readonly revocationReason?: { code: number; text: string };
  /** Issuer fingerprints (hex), hashed or unhashed. */
  issuerFingerprints: string[];
  /** Issuer key IDs (hex), hashed or unhashed, and those implied by issuer fingerprints. */
  issuerKeyIds: string[];
  readonly notations: Notation[];
  /** Digests listed by an Attested Certifications subpacket. */
  readonly attested: Buffer[];
  readonly embedded: Buffer[];
  /** Names of problems that make the signature unusable regardless of cryptography. */
  readonly defects: string[];
  packet: Packet;
}

const SIG_VALUE_COUNT: Readonly<Record<number, number>> = { 1: 1, 3: 1, 17: 2, 19: 2, 20: 2, 22: 2 };
const NATIVE_SIG_SIZE: Readonly<Record<number, number>> = { 27: 64, 28: 114 };

/** The empty list every signature starts with, shared: most lists stay empty. */
const NONE = Object.freeze([]) as unknown as never[];

/**
 * `list` and `item` in a new array. Lists hold an item or two, made here by literals of exactly
 * that size: push would reserve room for 17, and concat is several times slower.
 */
function add<T>(list: T[], item: T): T[] {
  if (list.length === 0) return [item];
  if (list.length === 1) return [list[0], item];
  return [...list, item];
}

/** Size of a subpacket length header, from its first octet (RFC 9580 §5.2.3.1). */
function lengthSize(first: number): number {
  return first < 192 ? 1 : first < 255 ? 2 : 5;
}

/**
 * Parses a signature packet.
 * @throws MalformedPacketError on a truncated or inconsistent body;
 *         UnsupportedError (MS_PGP_SIG_VERSION) for versions other than 3, 4 and 6.
 */
export function parseSignature(packet: Packet): Signature {
  return new ParsedSignature(packet);
}

/**
 * Decoded fields most signatures leave at their defaults (a plain certification has just a
 * creation time and an issuer), kept apart so that such a signature stays small.
 */
class Uncommon {
  expiresAfter: number | undefined = undefined;
  keyExpiresAfter: number | undefined = undefined;
  exportable = true;
  revocable = true;
  trust: { level: number; amount: number } | undefined = undefined;
  regexes: string[] = NONE;
  keyFlags: number | undefined = undefined;
  primaryUserId = false;
  revocationKeys: RevocationKey[] = NONE;
  revocationReason: { code: number; text: string } | undefined = undefined;
  defects: string[] = NONE;
}

/** What a signature with none of the uncommon fields reads. Never written: `#edit` swaps in a copy first. */
const DEFAULTS = new Uncommon();

/** The byte views of a signature, made on first use and kept so each read gives the same object. */
class Views {
  left16: Buffer | undefined = undefined;
  salt: Buffer | undefined = undefined;
  hashedPart: Buffer | undefined = undefined;
  values: Buffer[] | undefined = undefined;
  subpackets: Subpacket[] | undefined = undefined;
  embedded: Buffer[] | undefined = undefined;
  notations: Notation[] | undefined = undefined;
  attested: Buffer[] | undefined = undefined;
}

/**
 * A parsed signature. The fields trust decisions read are decoded at once, straight from the
 * subpacket areas (those usually at their defaults into a shared `Uncommon`, read through
 * getters); the byte views (values, hashed part, subpackets...) are made on first use, since
 * most signatures of a big keyring are never verified and every view is an allocation.
 * Everything that makes a packet malformed is still checked while parsing.
 */
class ParsedSignature implements Signature {
  version: number;
  type = 0;
  pubAlgorithm = 0;
  hashAlgorithm = 0;
  created = 0;
  issuerFingerprints: string[] = NONE;
  issuerKeyIds: string[] = NONE;
  readonly packet: Packet;

  /** The buffer holding the body, and the body's bounds in it; the positions below are in it too. */
  readonly #bytes: Buffer;
  readonly #start: number;
  readonly #end: number;
  /** Where the hashed part ends (v4/v6: after the hashed area). */
  #hashedEnd = 0;
  /** Where the digest prefix starts (v4/v6: after the unhashed area). */
  #left16At = 0;
  #views: Views | undefined = undefined;
  #uncommon: Uncommon = DEFAULTS;

  constructor(packet: Packet) {
    this.packet = packet;
    if (packet instanceof PacketView) {
      this.#bytes = packet.source;
      this.#start = packet.bodyStart;
      this.#end = packet.end;
    } else {
      this.#bytes = packet.body;
      this.#start = 0;
      this.#end = packet.body.length;
    }
    if (this.#end <= this.#start) throw this.#malformed('empty signature packet');
    const version = this.#bytes[this.#start];
    this.version = version;
    if (version === 3 || version === 2) this.#readV3();
    else if (version === 4 || version === 6) this.#readV4();
    else {
      const { offset, tag } = packet;
      throw new UnsupportedError('MS_PGP_SIG_VERSION', `unsupported signature version ${version} (packet tag ${tag} at offset ${offset})`, {
        data: { offset, tag, version },
      });
    }
    this.#readValues(undefined);
  }

  get expiresAfter(): number | undefined {
    return this.#uncommon.expiresAfter;
  }

  get keyExpiresAfter(): number | undefined {
    return this.#uncommon.keyExpiresAfter;
  }

  get exportable(): boolean {
    return this.#uncommon.exportable;
  }

  get revocable(): boolean {
    return this.#uncommon.revocable;
  }

  get trust(): { level: number; amount: number } | undefined {
    return this.#uncommon.trust;
  }

  get regexes(): string[] {
    return this.#uncommon.regexes;
  }

  get keyFlags(): number | undefined {
    return this.#uncommon.keyFlags;
  }

  get primaryUserId(): boolean {
    return this.#uncommon.primaryUserId;
  }

  get revocationKeys(): RevocationKey[] {
    return this.#uncommon.revocationKeys;
  }

  get revocationReason(): { code: number; text: string } | undefined {
    return this.#uncommon.revocationReason;
  }

  get defects(): string[] {
    return this.#uncommon.defects;
  }

  get left16(): Buffer {
    const v = this.#cache();
    v.left16 ??= this.#bytes.subarray(this.#left16At, this.#left16At + 2);
    return v.left16;
  }

  get salt(): Buffer | undefined {
    if (this.version !== 6) return undefined;
    const v = this.#cache();
    const at = this.#left16At + 2;
    v.salt ??= this.#bytes.subarray(at + 1, at + 1 + this.#bytes[at]);
    return v.salt;
  }

  get hashedPart(): Buffer {
    const v = this.#cache();
    v.hashedPart ??= this.#bytes.subarray(this.version < 4 ? this.#start + 2 : this.#start, this.#hashedEnd);
    return v.hashedPart;
  }

  get values(): Buffer[] {
    const v = this.#cache();
    if (!v.values) {
      v.values = [];
      this.#readValues(v.values);
    }
    return v.values;
  }

  get subpackets(): Subpacket[] {
    const v = this.#cache();
    if (!v.subpackets) {
      v.subpackets = [];
      if (this.version >= 4) {
        const lenSize = this.#lenSize();
        this.#collect(this.#start + 4 + lenSize, this.#hashedEnd, true, v.subpackets);
        this.#collect(this.#hashedEnd + lenSize, this.#left16At, false, v.subpackets);
      }
    }
    return v.subpackets;
  }

  get embedded(): Buffer[] {
    const v = this.#cache();
    if (!v.embedded) {
      v.embedded = [];
      for (const sp of this.subpackets) if (sp.type === SubpacketType.EmbeddedSignature) v.embedded.push(sp.data);
    }
    return v.embedded;
  }

  get notations(): Notation[] {
    const v = this.#cache();
    if (!v.notations) {
      v.notations = [];
      for (const sp of this.subpackets) if (sp.hashed && sp.type === SubpacketType.Notation) v.notations.push(notation(sp));
    }
    return v.notations;
  }

  get attested(): Buffer[] {
    const v = this.#cache();
    if (!v.attested) {
      v.attested = [];
      const size = attestationDigestSize(this.hashAlgorithm);
      for (const sp of this.subpackets) {
        if (!sp.hashed || sp.type !== SubpacketType.AttestedCertifications) continue;
        for (let i = 0; i < sp.data.length; i += size) v.attested.push(sp.data.subarray(i, i + size));
      }
    }
    return v.attested;
  }

  /** The uncommon fields, for writing: the shared defaults are replaced by this signature's own first. */
  #edit(): Uncommon {
    if (this.#uncommon === DEFAULTS) this.#uncommon = new Uncommon();
    return this.#uncommon;
  }

  #addDefect(defect: string): void {
    const more = this.#edit();
    more.defects = add(more.defects, defect);
  }

  #cache(): Views {
    this.#views ??= new Views();
    return this.#views;
  }

  /** Size of the v4/v6 subpacket area lengths. */
  #lenSize(): number {
    return this.version === 6 ? 4 : 2;
  }

  #malformed(message: string): MalformedPacketError {
    return new MalformedPacketError(message, this.packet.offset, this.packet.tag);
  }

  #readV3(): void {
    const b = this.#bytes;
    const s = this.#start;
    if (this.#end - s < 19 || b[s + 1] !== 5) throw this.#malformed('malformed v3 signature header');
    this.type = b[s + 2];
    this.created = b.readUInt32BE(s + 3);
    this.#hashedEnd = s + 7;
    this.issuerKeyIds = [hexRange(b, s + 7, s + 15)];
    this.pubAlgorithm = b[s + 15];
    this.hashAlgorithm = b[s + 16];
    this.#left16At = s + 17;
  }

  /** Reads a v4 or v6 header; checks come in the order a reader meets the fields, so errors name the first fault. */
  #readV4(): void {
    const b = this.#bytes;
    const s = this.#start;
    const end = this.#end;
    const lenSize = this.#lenSize();
    if (end - s < 4 + lenSize) throw this.#malformed('truncated signature header');
    this.type = b[s + 1];
    this.pubAlgorithm = b[s + 2];
    this.hashAlgorithm = b[s + 3];
    const hashedLen = lenSize === 4 ? b.readUInt32BE(s + 4) : b.readUInt16BE(s + 4);
    const hashedArea = s + 4 + lenSize;
    const hashedEnd = hashedArea + hashedLen;
    if (hashedEnd > end) throw this.#malformed('hashed subpacket area runs past the packet end');
    if (hashedEnd + lenSize > end) throw this.#malformed('truncated unhashed subpacket length');
    const unhashedLen = lenSize === 4 ? b.readUInt32BE(hashedEnd) : b.readUInt16BE(hashedEnd);
    const unhashedArea = hashedEnd + lenSize;
    const unhashedEnd = unhashedArea + unhashedLen;
    if (unhashedEnd > end) throw this.#malformed('unhashed subpacket area runs past the packet end');
    this.#checkArea(hashedArea, hashedEnd);
    this.#checkArea(unhashedArea, unhashedEnd);
    if (unhashedEnd + 2 > end) throw this.#malformed('truncated signature');
    const saltAt = unhashedEnd + 2;
    // Without this check a v6 signature cut right after the digest prefix read an
    // undefined salt length, and parsed (NaN positions) into an empty salt and value.
    if (this.version === 6 && (saltAt >= end || saltAt + 1 + b[saltAt] > end)) throw this.#malformed('truncated signature salt');
    this.#hashedEnd = hashedEnd;
    this.#left16At = unhashedEnd;
    const hashedCreation = this.#decodeArea(hashedArea, hashedEnd, true);
    this.#decodeArea(unhashedArea, unhashedEnd, false);
    // A v4 signature without a hashed creation time is invalid (RFC 9580 §5.2.3.11).
    if (!hashedCreation) this.#addDefect('no hashed creation time');
  }

  /** Where the subpacket whose length header is at `pos` ends; throws if it is empty or overruns its area. */
  #subpacketEnd(pos: number, areaEnd: number): number {
    const b = this.#bytes;
    const first = b[pos];
    let len: number;
    if (first < 192) {
      len = first;
    } else if (first < 255) {
      if (pos + 2 > areaEnd) throw this.#malformed('truncated subpacket length');
      len = ((first - 192) << 8) + b[pos + 1] + 192;
    } else {
      if (pos + 5 > areaEnd) throw this.#malformed('truncated subpacket length');
      len = b.readUInt32BE(pos + 1);
    }
    pos += lengthSize(first);
    if (len === 0) throw this.#malformed('subpacket of length zero');
    if (pos + len > areaEnd) throw this.#malformed('subpacket runs past its area');
    return pos + len;
  }

  #checkArea(from: number, to: number): void {
    for (let pos = from; pos < to; ) pos = this.#subpacketEnd(pos, to);
  }

  #collect(from: number, to: number, hashed: boolean, out: Subpacket[]): void {
    const b = this.#bytes;
    for (let pos = from; pos < to; ) {
      const next = this.#subpacketEnd(pos, to);
      const at = pos + lengthSize(b[pos]);
      out.push({ type: b[at] & 0x7f, critical: (b[at] & 0x80) !== 0, hashed, data: b.subarray(at + 1, next) });
      pos = next;
    }
  }

  /** Decodes the subpackets of one area; returns whether it held a creation time. */
  #decodeArea(from: number, to: number, hashed: boolean): boolean {
    const b = this.#bytes;
    let creation = false;
    for (let pos = from; pos < to; ) {
      const next = this.#subpacketEnd(pos, to);
      const at = pos + lengthSize(b[pos]);
      if ((b[at] & 0x7f) === SubpacketType.CreationTime) creation = true;
      this.#decode(b[at], hashed, at + 1, next);
      pos = next;
    }
    return creation;
  }

  /** Decodes one subpacket whose data runs from `d` to `end`. */
  #decode(typeByte: number, hashed: boolean, d: number, end: number): void {
    const b = this.#bytes;
    const type = typeByte & 0x7f;
    const critical = (typeByte & 0x80) !== 0;
    const len = end - d;
    // Issuer identification is advisory and may sit in the unhashed area; everything else must be hashed.
    if (type === SubpacketType.Issuer) {
      this.#tooShort(type, len, 8);
      this.issuerKeyIds = add(this.issuerKeyIds, hexRange(b, d, d + 8));
      return;
    }
    if (type === SubpacketType.IssuerFingerprint) {
      this.#tooShort(type, len, 2);
      const fpr = hexRange(b, d + 1, end);
      this.issuerFingerprints = add(this.issuerFingerprints, fpr);
      this.issuerKeyIds = add(this.issuerKeyIds, b[d] === 4 ? fpr.slice(-16) : fpr.slice(0, 16));
      return;
    }
    if (type === SubpacketType.EmbeddedSignature || !hashed) return;
    switch (type) {
      case SubpacketType.CreationTime:
        this.#tooShort(type, len, 4);
        this.created = b.readUInt32BE(d);
        break;
      case SubpacketType.ExpirationTime:
        this.#tooShort(type, len, 4);
        this.#edit().expiresAfter = b.readUInt32BE(d);
        break;
      case SubpacketType.KeyExpirationTime:
        this.#tooShort(type, len, 4);
        this.#edit().keyExpiresAfter = b.readUInt32BE(d);
        break;
      case SubpacketType.Exportable:
        this.#tooShort(type, len, 1);
        this.#edit().exportable = b[d] !== 0;
        break;
      case SubpacketType.Revocable:
        this.#tooShort(type, len, 1);
        this.#edit().revocable = b[d] !== 0;
        break;
      case SubpacketType.Trust:
        this.#tooShort(type, len, 2);
        this.#edit().trust = { level: b[d], amount: b[d + 1] };
        break;
      case SubpacketType.RegularExpression: {
        let nul = d;
        while (nul < end && b[nul] !== 0) nul++;
        const more = this.#edit();
        more.regexes = add(more.regexes, b.toString('utf8', d, nul));
        break;
      }
      case SubpacketType.KeyFlags: {
        let flags = 0;
        for (let i = 0; i < Math.min(len, 4); i++) flags |= b[d + i] << (8 * i);
        this.#edit().keyFlags = flags;
        break;
      }
      case SubpacketType.PrimaryUserId:
        this.#edit().primaryUserId = len > 0 && b[d] !== 0;
        break;
      case SubpacketType.RevocationKey: {
        this.#tooShort(type, len, 22);
        const more = this.#edit();
        more.revocationKeys = add(more.revocationKeys, { class: b[d], algorithm: b[d + 1], fingerprint: hexRange(b, d + 2, end) });
        break;
      }
      case SubpacketType.ReasonForRevocation:
        this.#tooShort(type, len, 1);
        this.#edit().revocationReason = { code: b[d], text: b.toString('utf8', d + 1, end) };
        break;
      case SubpacketType.Notation:
        // Decoded on demand (see `notations`); checked now so a bad one still fails the parse.
        this.#tooShort(type, len, 8);
        if (8 + b.readUInt16BE(d + 4) + b.readUInt16BE(d + 6) > len) throw this.#malformed('notation runs past its subpacket');
        break;
      case SubpacketType.AttestedCertifications: {
        const size = attestationDigestSize(this.hashAlgorithm);
        if (size === 0 || len % size !== 0) throw this.#malformed('attested certifications list is not a whole number of digests');
        break;
      }
      default:
        break;
    }
    if (critical && !UNDERSTOOD.has(type)) this.#addDefect(`unknown critical subpacket ${type}`);
    if (critical && type === SubpacketType.Notation) this.#addDefect('critical notation');
  }

  #tooShort(type: number, len: number, need: number): void {
    if (len < need) throw this.#malformed(`subpacket type ${type} too short`);
  }

  /** Walks the signature values, checking their framing; collects them into `out` when given. */
  #readValues(out: Buffer[] | undefined): void {
    const b = this.#bytes;
    const end = this.#end;
    // After the digest prefix and, in v6, the salt.
    let pos = this.#left16At + 2;
    if (this.version === 6) pos += 1 + b[pos];
    const count = SIG_VALUE_COUNT[this.pubAlgorithm];
    const nativeSize = NATIVE_SIG_SIZE[this.pubAlgorithm];
    if (count !== undefined) {
      for (let i = 0; i < count; i++) {
        const next = mpiEnd(b, pos, end, this.packet.offset, this.packet.tag);
        out?.push(mpiValue(b, pos, next));
        pos = next;
      }
    } else if (nativeSize !== undefined) {
      if (pos + nativeSize > end) throw this.#malformed('truncated signature value');
      out?.push(b.subarray(pos, pos + nativeSize));
    } else {
      out?.push(b.subarray(pos, end));
    }
  }
}

/** Decodes a Notation Data subpacket, already checked to hold its name and value. */
function notation(sp: Subpacket): Notation {
  const d = sp.data;
  const nameLen = d.readUInt16BE(4);
  const valueLen = d.readUInt16BE(6);
  return {
    name: d.subarray(8, 8 + nameLen).toString('utf8'),
    value: d.subarray(8 + nameLen, 8 + nameLen + valueLen),
    humanReadable: (d[0] & 0x80) !== 0,
    critical: sp.critical,
  };
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
