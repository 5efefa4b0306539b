/**
 * What a signature hashes (RFC 9580 §5.2.4): the salt (v6), the key and the user ID or
 * subkey it is bound to, then the signature's own hashed part and trailer.
 */
import { createHash } from 'node:crypto';
import { UnsupportedError } from '../errors.js';
import { u32 } from '../util/bytes.js';
import { HASH_NAMES } from './algorithms.js';
import { type KeyPacket, keyHashPrefix } from './key-packet.js';
import { type Packet, Tag } from './packets.js';
import type { Signature } from './signature.js';

export type SigTarget =
  | { kind: 'key'; primary: KeyPacket }
  | { kind: 'user'; primary: KeyPacket; user: Packet }
  | { kind: 'subkey'; primary: KeyPacket; subkey: KeyPacket };

/**
 * A key as a signature hashes it: the prefix follows the signature's version, not the key's
 * (RFC 9580 §5.2.4: 0x99 and a two-octet length for v3 and v4 signatures, 0x9B and four octets
 * for v6 ones), so a v6 key's certification of a v4 key hashes that key with 0x9B.
 */
function keyChunks(key: KeyPacket, sigVersion: number): Buffer[] {
  return [keyHashPrefix(sigVersion === 6 ? 6 : 4, key.publicBody), key.publicBody];
}

function userChunks(user: Packet, sigVersion: number): Buffer[] {
  if (sigVersion < 4) return [user.body];
  return [Buffer.from([user.tag === Tag.UserAttribute ? 0xd1 : 0xb4]), u32(user.body.length), user.body];
}

/** The byte chunks hashed for `sig` over `target`, in order. */
export function signedChunks(sig: Signature, target: SigTarget): Buffer[] {
  const chunks: Buffer[] = [];
  if (sig.version === 6 && sig.salt) chunks.push(sig.salt);
  chunks.push(...keyChunks(target.primary, sig.version));
  if (target.kind === 'user') chunks.push(...userChunks(target.user, sig.version));
  if (target.kind === 'subkey') chunks.push(...keyChunks(target.subkey, sig.version));
  chunks.push(sig.hashedPart);
  if (sig.version >= 4) chunks.push(Buffer.from([sig.version, 0xff]), u32(sig.hashedPart.length));
  return chunks;
}

/**
 * The key and component part of what `sig` hashes over `target` (signedChunks without the v6 salt,
 * the hashed part and the trailer), shared by every signature of one version on that target.
 */
export function targetChunks(target: SigTarget, sigVersion: number): Buffer[] {
  const chunks = keyChunks(target.primary, sigVersion);
  if (target.kind === 'user') chunks.push(...userChunks(target.user, sigVersion));
  if (target.kind === 'subkey') chunks.push(...keyChunks(target.subkey, sigVersion));
  return chunks;
}

export function hashName(sig: Signature): string {
  const name = HASH_NAMES[sig.hashAlgorithm];
  if (!name) throw new UnsupportedError('MS_PGP_HASH', `unsupported hash algorithm ${sig.hashAlgorithm}`);
  return name;
}

/** The digest the signature's value signs. */
export function signedDigest(sig: Signature, chunks: Buffer[]): Buffer {
  const h = createHash(hashName(sig));
  for (const c of chunks) h.update(c);
  return h.digest();
}
