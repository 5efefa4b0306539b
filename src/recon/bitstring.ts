/**
 * Bit strings: the prefixes that name prefix-tree nodes (SKS bitstring.ml, conflux
 * bitstring.go). Bit i is bit 7 − (i mod 8), most significant first, of byte ⌊i/8⌋, and an
 * element's bits are those of its 17-byte little-endian wire form (SKS `string_index` over
 * `ZZp.to_bytes`, conflux `NewZpBitstring`); so the tree branches first on the high bits of
 * the element's lowest byte. Also the wire form of a prefix. Immutable.
 */
import { InputError } from '../errors.js';
import { ZP_BYTES, zpToBytes } from './zp.js';

/** Bits of an element as a bit string: its 17 wire bytes (SKS pads every element to them). */
export const ELEMENT_BITS = 8 * ZP_BYTES;

/** The largest prefix a peer may send: no node is deeper than an element has bits. */
const MAX_WIRE_BITS = ELEMENT_BITS;

export class Bitstring {
  readonly #bytes: Uint8Array;
  /** Number of bits. */
  readonly length: number;

  private constructor(bytes: Uint8Array, length: number) {
    this.#bytes = bytes;
    this.length = length;
  }

  static readonly EMPTY = new Bitstring(new Uint8Array(0), 0);

  /**
   * The first `length` bits of `bytes` (missing bytes count as zero bits); bits past `length`
   * in the last byte are cleared, as SKS `to_bytes` and conflux `SetBytes` clear them.
   */
  static fromBytes(bytes: Uint8Array, length: number): Bitstring {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`bad bit length ${length}`);
    const out = new Uint8Array((length + 7) >> 3);
    out.set(bytes.subarray(0, out.length));
    if (length % 8 !== 0) out[out.length - 1] &= 0xff << (8 - (length % 8));
    return new Bitstring(out, length);
  }

  /** From "0110…" text, as `toString` writes it. */
  static parse(bits: string): Bitstring {
    if (!/^[01]*$/.test(bits)) throw new RangeError(`not a bit string: ${JSON.stringify(bits)}`);
    const out = new Uint8Array((bits.length + 7) >> 3);
    for (let i = 0; i < bits.length; i++) if (bits[i] === '1') out[i >> 3] |= 0x80 >> (i & 7);
    return new Bitstring(out, bits.length);
  }

  /** All the bits of an element (`ELEMENT_BITS` of them); its prefixes name the nodes it is under. */
  static ofElement(z: bigint): Bitstring {
    return new Bitstring(zpToBytes(z), ELEMENT_BITS);
  }

  /** Bit i (0 or 1). @throws RangeError outside 0 ≤ i < length. */
  get(i: number): 0 | 1 {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`bit ${i} of a ${this.length}-bit string`);
    return ((this.#bytes[i >> 3] >> (7 - (i & 7))) & 1) as 0 | 1;
  }

  /** A copy of the bytes, ⌈length/8⌉ of them, unused low bits zero. */
  toBytes(): Buffer {
    return Buffer.from(this.#bytes);
  }

  /** The first n bits. */
  prefix(n: number): Bitstring {
    if (n > this.length) throw new RangeError(`prefix of ${n} bits of a ${this.length}-bit string`);
    return Bitstring.fromBytes(this.#bytes, n);
  }

  /** This string followed by the `count` low bits of `value`, most significant first. */
  append(value: number, count: number): Bitstring {
    const n = this.length + count;
    const out = new Uint8Array((n + 7) >> 3);
    out.set(this.#bytes);
    for (let k = 0; k < count; k++) {
      const i = this.length + k;
      if ((value >> (count - 1 - k)) & 1) out[i >> 3] |= 0x80 >> (i & 7);
    }
    return new Bitstring(out, n);
  }

  /** Whether this string is a prefix of `other` (equal strings included). */
  isPrefixOf(other: Bitstring): boolean {
    if (this.length > other.length) return false;
    const full = this.length >> 3;
    for (let i = 0; i < full; i++) if (this.#bytes[i] !== other.#bytes[i]) return false;
    const rest = this.length & 7;
    if (rest === 0) return true;
    const mask = 0xff << (8 - rest);
    return ((this.#bytes[full] ^ other.#bytes[full]) & mask & 0xff) === 0;
  }

  equals(other: Bitstring): boolean {
    return this.length === other.length && this.isPrefixOf(other);
  }

  /** The bits as "0110…". Also a unique map key for the string. */
  toString(): string {
    let s = '';
    for (let i = 0; i < this.length; i++) s += (this.#bytes[i >> 3] >> (7 - (i & 7))) & 1 ? '1' : '0';
    return s;
  }
}

/** Bit i of element z's wire bytes, without building them (the tree's hot path). */
export function elementBit(z: bigint, i: number): number {
  return Number((z >> BigInt(((i >> 3) << 3) + 7 - (i & 7))) & 1n);
}

/**
 * The child of a node at `depth` that element z belongs to: the bitQuantum bits of z from
 * depth·bitQuantum on, read most significant first (SKS `PrefixTree.string_index`). Child i's
 * key is its parent's followed by those bits (`childKey`), so children in index order are in
 * the bit strings' lexicographic order, as SKS's `child_keys` lists them. (Conflux numbers
 * them with the first bit least significant; the keys, which are what the wire carries, agree.)
 */
export function childIndex(z: bigint, depth: number, bitQuantum: number): number {
  let idx = 0;
  const first = depth * bitQuantum;
  for (let k = 0; k < bitQuantum; k++) idx = (idx << 1) | elementBit(z, first + k);
  return idx;
}

/** The key of child `index` of the node `key` (see `childIndex`). */
export function childKey(key: Bitstring, index: number, bitQuantum: number): Bitstring {
  return key.append(index, bitQuantum);
}

/** Whether element z lies under the node named `key`. */
export function elementHasPrefix(z: bigint, key: Bitstring): boolean {
  for (let i = 0; i < key.length; i++) if (elementBit(z, i) !== key.get(i)) return false;
  return true;
}

/**
 * A prefix in SKS's wire form (`ReconMessages.marshal_bitstring`, conflux `WriteBitstring`):
 * int32 bit length, then the bytes as a string: int32 byte count, the bytes.
 */
export function encodeBitstring(bs: Bitstring): Buffer {
  const bytes = bs.toBytes();
  const out = Buffer.alloc(8 + bytes.length);
  out.writeInt32BE(bs.length, 0);
  out.writeInt32BE(bytes.length, 4);
  bytes.copy(out, 8);
  return out;
}

/**
 * A prefix in wire form at `offset`; `next` is the offset after it. A byte count other than
 * ⌈bits/8⌉ is accepted as conflux accepts it (missing bytes are zero, extra ones ignored).
 * @throws InputError (MS_RECON_MALFORMED) for a negative or oversized length or a short buffer.
 */
export function decodeBitstring(buf: Uint8Array, offset = 0): { value: Bitstring; next: number } {
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (offset + 8 > view.length) throw new InputError('MS_RECON_MALFORMED', 'truncated bit string');
  const bits = view.readInt32BE(offset);
  const nbytes = view.readInt32BE(offset + 4);
  if (bits < 0 || bits > MAX_WIRE_BITS) throw new InputError('MS_RECON_MALFORMED', `bit string of ${bits} bits`);
  if (nbytes < 0 || offset + 8 + nbytes > view.length) throw new InputError('MS_RECON_MALFORMED', `truncated bit string (${nbytes} bytes)`);
  const start = offset + 8;
  return { value: Bitstring.fromBytes(view.subarray(start, start + nbytes), bits), next: start + nbytes };
}
