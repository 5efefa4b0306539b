/**
 * Web Key Directory (draft-koch-openpgp-webkey-service-22): the z-base-32 SHA-1 of a lower-cased
 * local part, the direct and advanced paths, and a certificate cut down to the user IDs of one
 * address (the draft: publish only the user ID that matches), served binary.
 */
import { hash } from 'node:crypto';
import type { Cert } from '../openpgp/cert.js';
import { Tag } from '../openpgp/packets.js';
import { addressOf } from '../openpgp/user-id.js';

const ZB32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** z-base-32 (RFC 6189 §5.1.6) of whole bytes. */
export function zbase32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ZB32[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ZB32[(acc << (5 - bits)) & 31];
  return out;
}

/** The WKD hash of a local part: only ASCII letters are lower-cased (the draft, §3.1). */
export function wkdHash(localPart: string): string {
  const lowered = localPart.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return zbase32(hash('sha1', Buffer.from(lowered, 'utf8'), 'buffer'));
}

/** Whether `userId`'s address has this domain (case-insensitive) and a local part hashing to `hu`. */
export function userIdMatches(userId: string, domain: string, hu: string): boolean {
  const addr = addressOf(userId);
  if (!addr) return false;
  const at = addr.lastIndexOf('@');
  return addr.slice(at + 1).toLowerCase() === domain.toLowerCase() && wkdHash(addr.slice(0, at)) === hu;
}

/** The certificate's packets with only the user IDs `keep` accepts (and their signatures); attributes go too. */
export function onlyUserIds(cert: Cert, keep: (text: string) => boolean): Buffer {
  const out: Buffer[] = [];
  let dropping = false;
  for (const p of cert.packets) {
    if (p.tag === Tag.UserId) dropping = !keep(p.body.toString('utf8'));
    else if (p.tag === Tag.UserAttribute) dropping = true;
    else if (p.tag === Tag.PublicSubkey || p.tag === Tag.SecretSubkey) dropping = false;
    if (!dropping && p.tag !== Tag.Trust && p.tag !== Tag.Marker) out.push(p.raw);
  }
  return Buffer.concat(out);
}

/** What a WKD path asks for. */
export interface WkdRequest {
  kind: 'key' | 'policy' | 'submission-address';
  /** From the path (advanced method) or the Host header (direct method), lower case. */
  domain: string;
  hu?: string;
}

/**
 * Parses a path under `/.well-known/openpgpkey/`: `hu/<hash>` and `policy` (direct method, the
 * domain from `host`), or `<domain>/hu/<hash>` and `<domain>/policy` (advanced). Undefined when
 * it is neither.
 */
export function parseWkdPath(path: string, host: string | undefined): WkdRequest | undefined {
  const rest = path.slice('/.well-known/openpgpkey/'.length);
  const parts = rest.split('/');
  const hostDomain = (host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase();
  const leaf = (domain: string, tail: string[]): WkdRequest | undefined => {
    if (!/^[a-z0-9.-]+$/.test(domain)) return undefined;
    if (tail.length === 2 && tail[0] === 'hu' && /^[ybndrfg8ejkmcpqxot1uwisza345h769]{32}$/.test(tail[1])) return { kind: 'key', domain, hu: tail[1] };
    if (tail.length === 1 && (tail[0] === 'policy' || tail[0] === 'submission-address')) return { kind: tail[0], domain };
    return undefined;
  };
  if (parts[0] === 'hu' || parts[0] === 'policy' || parts[0] === 'submission-address') return leaf(hostDomain, parts);
  let domain: string;
  try {
    domain = decodeURIComponent(parts[0]).toLowerCase();
  } catch {
    return undefined;
  }
  return leaf(domain, parts.slice(1));
}
