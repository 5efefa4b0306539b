/**
 * Minimal DER: encoding, just enough to hand OpenPGP key material to node:crypto as SPKI,
 * and reading, just enough to take key material out of node's SPKI and PKCS#8 exports.
 */

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

/** One DER element: its (single-octet) tag and its content octets. */
export interface DerElement {
  tag: number;
  content: Buffer;
}

/**
 * The elements `der` consists of, in order: the content of a constructed value, or a
 * whole encoding. Single-octet tags and definite lengths only, as DER requires.
 * @throws Error when an element is truncated or overruns `der`
 */
export function derElements(der: Buffer): DerElement[] {
  const out: DerElement[] = [];
  let pos = 0;
  while (pos < der.length) {
    const tag = der[pos];
    if ((tag & 0x1f) === 0x1f || pos + 2 > der.length) throw new Error('DER: bad or truncated tag');
    let len = der[pos + 1];
    pos += 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || pos + n > der.length) throw new Error('DER: bad length');
      len = der.readUIntBE(pos, n);
      pos += n;
    }
    if (pos + len > der.length) throw new Error('DER: element overruns its container');
    out.push({ tag, content: der.subarray(pos, pos + len) });
    pos += len;
  }
  return out;
}

/**
 * The content of `element` after checking its tag.
 * @throws Error when the element is missing or has another tag
 */
export function derContent(element: DerElement | undefined, tag: number, what: string): Buffer {
  if (element?.tag !== tag) throw new Error(`DER: expected ${what}`);
  return element.content;
}

/** The items of the single SEQUENCE that `der` is. @throws Error otherwise */
export function derSequenceItems(der: Buffer, what: string): DerElement[] {
  const top = derElements(der);
  if (top.length !== 1) throw new Error(`DER: expected one ${what}`);
  return derElements(derContent(top[0], 0x30, what));
}

/** The magnitude of a non-negative INTEGER's content, without leading zero octets. */
export function derUintValue(content: Buffer): Buffer {
  let i = 0;
  while (i < content.length && content[i] === 0) i++;
  return content.subarray(i);
}

/** The content of a BIT STRING with no unused bits. @throws Error otherwise */
export function derBitStringValue(element: DerElement | undefined, what: string): Buffer {
  const content = derContent(element, 0x03, what);
  if (content[0] !== 0) throw new Error(`DER: ${what} is not whole octets`);
  return content.subarray(1);
}
