/**
 * OpenPGP packet framing (RFC 9580 §4): splits bytes into packets and keeps each
 * packet's exact original bytes, so anything read can be written back unchanged.
 * It does not interpret packet bodies; see key-packet.ts and signature.ts.
 */
import { MalformedPacketError } from '../errors.js';

export const Tag = {
  Signature: 2,
  SecretKey: 5,
  PublicKey: 6,
  SecretSubkey: 7,
  Marker: 10,
  Trust: 12,
  UserId: 13,
  PublicSubkey: 14,
  UserAttribute: 17,
  Padding: 21,
} as const;

export interface Packet {
  readonly tag: number;
  /** Offset of the packet header in the input. */
  readonly offset: number;
  /** Header and body, exactly as read. */
  readonly raw: Buffer;
  /** The body alone (a view into raw). */
  readonly body: Buffer;
}

/**
 * A packet framed in a larger buffer. It keeps offsets, not views: a big keyring has tens of
 * thousands of packets whose bytes are never looked at whole, and each Buffer view costs an
 * allocation and garbage collection. `raw` and `body` are made on first use and kept, so
 * repeated reads give the same Buffer.
 */
export class PacketView implements Packet {
  #raw: Buffer | undefined = undefined;
  #body: Buffer | undefined = undefined;

  constructor(
    /** The buffer the packet was framed in. */
    readonly source: Buffer,
    readonly tag: number,
    readonly offset: number,
    /** Where the body starts in `source`. */
    readonly bodyStart: number,
    /** Where the packet ends in `source`. */
    readonly end: number,
  ) {}

  get raw(): Buffer {
    this.#raw ??= this.source.subarray(this.offset, this.end);
    return this.#raw;
  }

  get body(): Buffer {
    this.#body ??= this.source.subarray(this.bodyStart, this.end);
    return this.#body;
  }

  /** Over the size limit for its tag. */
  get oversized(): boolean {
    return this.end - this.bodyStart > packetLimit(this.tag);
  }
}

/** Per-tag body limits. GnuPG's for user IDs and keys; generous elsewhere, but never unbounded. */
export const DEFAULT_LIMITS: Readonly<Record<number, number>> = {
  [Tag.UserId]: 2 * 1024,
  [Tag.PublicKey]: 256 * 1024,
  [Tag.PublicSubkey]: 256 * 1024,
  [Tag.SecretKey]: 256 * 1024,
  [Tag.SecretSubkey]: 256 * 1024,
  [Tag.Signature]: 64 * 1024,
  [Tag.UserAttribute]: 16 * 1024 * 1024,
};
const DEFAULT_OTHER_LIMIT = 16 * 1024 * 1024;

export function packetLimit(tag: number): number {
  return DEFAULT_LIMITS[tag] ?? DEFAULT_OTHER_LIMIT;
}

/** One framing result: a packet, or a packet whose body is over its limit (kept out, but skipped cleanly). */
export type FramedPacket = { packet: Packet; oversized?: false } | { packet: Packet; oversized: true };

/**
 * Frames the packet whose header starts at `start`. Over-limit packets are returned too
 * (see `oversized`) so the caller can drop one and go on; a framing error (truncated input,
 * partial or indeterminate lengths) throws, since nothing after it can be trusted.
 */
export function readPacket(bytes: Buffer, start: number): PacketView {
  let pos = start;
  const ctb = bytes[pos++];
  if ((ctb & 0x80) === 0) throw new MalformedPacketError(`invalid packet header byte 0x${ctb.toString(16).padStart(2, '0')}`, start);
  let tag: number;
  let length: number;
  if (ctb & 0x40) {
    tag = ctb & 0x3f;
    if (pos >= bytes.length) throw new MalformedPacketError('truncated packet header', start, tag);
    const first = bytes[pos++];
    if (first < 192) {
      length = first;
    } else if (first < 224) {
      if (pos >= bytes.length) throw new MalformedPacketError('truncated packet header', start, tag);
      length = ((first - 192) << 8) + bytes[pos++] + 192;
    } else if (first === 255) {
      if (pos + 4 > bytes.length) throw new MalformedPacketError('truncated packet header', start, tag);
      length = bytes.readUInt32BE(pos);
      pos += 4;
    } else {
      throw new MalformedPacketError('partial body length is not allowed in certificates', start, tag);
    }
  } else {
    tag = (ctb >> 2) & 0x0f;
    const lengthType = ctb & 3;
    if (lengthType === 3) throw new MalformedPacketError('indeterminate length is not allowed in certificates', start, tag);
    const n = 1 << lengthType;
    if (pos + n > bytes.length) throw new MalformedPacketError('truncated packet header', start, tag);
    length = n === 1 ? bytes[pos] : n === 2 ? bytes.readUInt16BE(pos) : bytes.readUInt32BE(pos);
    pos += n;
  }
  if (pos + length > bytes.length) {
    throw new MalformedPacketError(`truncated packet: header says ${length} bytes, ${bytes.length - pos} remain`, start, tag);
  }
  return new PacketView(bytes, tag, start, pos, pos + length);
}

/** Iterates over the packets of `bytes`, as `readPacket` frames them. */
export function* framePackets(bytes: Buffer): Generator<FramedPacket> {
  for (let pos = 0; pos < bytes.length; ) {
    const packet = readPacket(bytes, pos);
    pos = packet.end;
    yield packet.oversized ? { packet, oversized: true } : { packet };
  }
}

/** Encodes a packet with a new-format header (RFC 9580 §4.2.1). */
export function encodePacket(tag: number, body: Uint8Array): Buffer {
  const len = body.length;
  let header: Buffer;
  if (len < 192) header = Buffer.from([0xc0 | tag, len]);
  else if (len < 8384) header = Buffer.from([0xc0 | tag, ((len - 192) >> 8) + 192, (len - 192) & 0xff]);
  else {
    header = Buffer.alloc(6);
    header[0] = 0xc0 | tag;
    header[1] = 255;
    header.writeUInt32BE(len, 2);
  }
  return Buffer.concat([header, body]);
}

/** Encodes a packet with an old-format header, as GnuPG 2.2 and the original pem2openpgp write. */
export function encodeOldPacket(tag: number, body: Uint8Array): Buffer {
  const len = body.length;
  if (len < 256) return Buffer.concat([Buffer.from([0x80 | (tag << 2), len]), body]);
  if (len < 65536) return Buffer.concat([Buffer.from([0x81 | (tag << 2), len >> 8, len & 0xff]), body]);
  const h = Buffer.alloc(5);
  h[0] = 0x82 | (tag << 2);
  h.writeUInt32BE(len, 1);
  return Buffer.concat([h, body]);
}
