/** Small helpers for byte arrays; Buffer is used throughout for its fast compare and hex. */

const HEX_DIGITS = Buffer.from('0123456789ABCDEF', 'latin1');
/** Room for the hex of IDs and fingerprints, so each costs one string and no intermediate. */
const hexScratch = Buffer.allocUnsafeSlow(128);

/** Uppercase hex of bytes[from, to). */
export function hexRange(bytes: Uint8Array, from: number, to: number): string {
  if (2 * (to - from) > hexScratch.length) return Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString('hex').toUpperCase();
  let o = 0;
  for (let i = from; i < to; i++) {
    hexScratch[o++] = HEX_DIGITS[bytes[i] >> 4];
    hexScratch[o++] = HEX_DIGITS[bytes[i] & 15];
  }
  return hexScratch.toString('latin1', 0, o);
}

/** Uppercase hex of all of `bytes`. */
export function hex(bytes: Uint8Array): string {
  return hexRange(bytes, 0, bytes.length);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
