/**
 * The SKS key hash: the digest SKS and Hockeypuck reconcile on (SKS `KeyHash.hash`,
 * hockeypuck `openpgp.SksDigest`). Its packets are de-duplicated and sorted by tag, then
 * by body bytes; the digest is MD5 over int32be(tag) ‖ int32be(body length) ‖ body of each.
 * Packet headers (old or new format) do not count, so the same packets framed differently
 * hash the same, and so does any packet order.
 */
import { createHash } from 'node:crypto';
import { type Cert, publicPackets } from './cert.js';
import { framePackets, type Packet, Tag } from './packets.js';

function compare(a: Packet, b: Packet): number {
  return a.tag - b.tag || Buffer.compare(a.body, b.body);
}

/**
 * The 16-byte SKS digest of a certificate or of a binary packet stream. Trust and marker
 * packets, which no keyserver keeps, are left out of both.
 * @throws MalformedPacketError when `bytes` does not frame.
 */
export function sksDigest(input: Cert | Buffer): Buffer {
  const packets: Packet[] = Buffer.isBuffer(input) ? [...framePackets(input)].map((f) => f.packet) : publicPackets(input);
  const sorted = packets.filter((p) => p.tag !== Tag.Trust && p.tag !== Tag.Marker).sort(compare);
  const md5 = createHash('md5');
  const head = Buffer.allocUnsafe(8);
  let prev: Packet | undefined;
  for (const p of sorted) {
    if (prev && compare(prev, p) === 0) continue;
    prev = p;
    head.writeInt32BE(p.tag, 0);
    head.writeInt32BE(p.body.length, 4);
    md5.update(head);
    md5.update(p.body);
  }
  return md5.digest();
}
