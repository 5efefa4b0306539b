/** Minimal DER encoding, just enough to hand OpenPGP key material to node:crypto as SPKI. */

function derLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function derTlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

export const derSeq = (...items: Buffer[]): Buffer => derTlv(0x30, Buffer.concat(items));
export const derNull = (): Buffer => Buffer.from([0x05, 0x00]);
export const derOid = (body: Buffer): Buffer => derTlv(0x06, body);
export const derBitString = (content: Buffer): Buffer => derTlv(0x03, Buffer.concat([Buffer.from([0]), content]));
export const derOctetString = (content: Buffer): Buffer => derTlv(0x04, content);

/** A non-negative INTEGER from big-endian magnitude bytes. */
export function derUint(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let v = magnitude.subarray(i);
  if (v.length === 0) v = Buffer.from([0]);
  if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return derTlv(0x02, v);
}
