/**
 * Web Key Directory lookups (draft-koch-openpgp-webkey-service §3.1): the advanced
 * method on `openpgpkey.<domain>`, then the direct method when that host cannot be
 * reached. Lookup only; no submission, no policy file handling.
 */
import { createHash } from 'node:crypto';
import { InputError, MsError, TemporaryError } from '../errors.js';
import { dearmor } from '../openpgp/armor.js';
import { type Cert, readCerts } from '../openpgp/cert.js';
import { Keyring } from '../keyring/keyring.js';
import { boundedRequest, type FetchFn } from './http.js';
import { DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT_MS } from './client.js';

const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/** z-base-32 (Wilcox-O'Hearn), 5 bits per character, most significant bit first, no padding. */
export function zbase32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ZBASE32[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ZBASE32[(acc << (5 - bits)) & 31];
  return out;
}

export interface WkdAddress {
  /** The local part as given (sent in `?l=`). */
  local: string;
  /** The domain, lowercased. */
  domain: string;
  /** z-base-32 of SHA-1 over the local part with ASCII letters lowercased. */
  hash: string;
}

/**
 * Splits an address and computes its WKD hash.
 * @throws InputError (MS_WKD_BAD_ADDRESS) when it is not `local@domain`.
 */
export function parseWkdAddress(address: string): WkdAddress {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  if (at <= 0 || !/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/.test(domain) || !domain.includes('.') || /[\s<>]/.test(local)) {
    throw new InputError('MS_WKD_BAD_ADDRESS', `not an e-mail address: ${JSON.stringify(address)}`);
  }
  // Only ASCII letters are lowercased (§3.1); other characters are hashed as UTF-8.
  const folded = local.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return { local, domain, hash: zbase32(createHash('sha1').update(folded, 'utf8').digest()) };
}

export type WkdMethod = 'advanced' | 'direct';

/** The two lookup URLs of an address, advanced first. */
export function wkdUrls(address: string): Record<WkdMethod, string> {
  const a = parseWkdAddress(address);
  const tail = `hu/${a.hash}?l=${encodeURIComponent(a.local)}`;
  return {
    advanced: `https://openpgpkey.${a.domain}/.well-known/openpgpkey/${a.domain}/${tail}`,
    direct: `https://${a.domain}/.well-known/openpgpkey/${tail}`,
  };
}

export interface WkdOptions {
  timeoutMs?: number;
  maxResponseBytes?: number;
  fetch?: FetchFn;
  /**
   * Maps the canonical https URL to the one actually fetched. Tests point both hosts
   * at a loopback server; a deployment may use it for a proxy.
   */
  rewriteUrl?: (url: string, method: WkdMethod) => string;
  signal?: AbortSignal;
}

export interface WkdResult {
  /** Certificates with a user ID for the address, with only those user IDs kept. */
  certs: Cert[];
  problems: MsError[];
  /** The method whose host answered. */
  method: WkdMethod;
  /** The URL fetched (after rewriteUrl). */
  url: string;
}

/** The mailbox of a user ID: the last `<...>`, or the whole user ID when it is a bare address. */
function mailbox(userId: string): string | undefined {
  const angle = /<([^<>]+)>\s*$/.exec(userId) ?? /<([^<>]+)>/.exec(userId);
  const box = angle ? angle[1] : userId.trim();
  return /^[^\s@]+@[^\s@]+$/.test(box) ? box.toLowerCase() : undefined;
}

/** Keeps only the user IDs (and their signatures) whose mailbox is `address`, like gpg's WKD import filter. */
function keepAddress(cert: Cert, address: string): Cert | undefined {
  const users = cert.users.filter((u) => u.kind === 'userid' && mailbox(u.text) === address);
  if (users.length === 0) return undefined;
  if (users.length === cert.users.length) return cert;
  const packets = [cert.primary.packet, ...cert.directSigs.map((s) => s.packet)];
  for (const u of users) packets.push(u.packet, ...u.signatures.map((s) => s.packet));
  for (const s of cert.subkeys) packets.push(s.key.packet, ...s.signatures.map((x) => x.packet));
  return readCerts(Buffer.concat(packets.map((p) => p.raw))).certs[0];
}

/**
 * Looks up `address` in its domain's Web Key Directory. The advanced method is used when
 * `openpgpkey.<domain>` answers at all (then its 404 is final, as in GnuPG); only when it
 * cannot be reached is the direct method tried. Not found is an empty result.
 * Certificates without a user ID for the address are dropped and reported (§3.1: the
 * server must only return keys for the address).
 * @throws InputError (MS_WKD_BAD_ADDRESS); TemporaryError (MS_WKD_UNREACHABLE,
 *   MS_WKD_TIMEOUT, MS_WKD_SERVER_ERROR); InputError (MS_WKD_TOO_LARGE, MS_WKD_REJECTED).
 */
export async function wkdLookup(address: string, opts: WkdOptions = {}): Promise<WkdResult> {
  const urls = wkdUrls(address);
  const parsed = parseWkdAddress(address);
  const wanted = `${parsed.local}@${parsed.domain}`.toLowerCase();
  const limits = {
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxBytes: opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    fetch: opts.fetch,
    signal: opts.signal,
    codePrefix: 'MS_WKD',
  };
  let method: WkdMethod = 'advanced';
  let url = opts.rewriteUrl ? opts.rewriteUrl(urls.advanced, 'advanced') : urls.advanced;
  let res: Awaited<ReturnType<typeof boundedRequest>>;
  try {
    res = await boundedRequest({ method: 'GET', url }, limits);
  } catch (err) {
    if (!(err instanceof MsError) || err.code !== 'MS_WKD_UNREACHABLE') throw err;
    method = 'direct';
    url = opts.rewriteUrl ? opts.rewriteUrl(urls.direct, 'direct') : urls.direct;
    res = await boundedRequest({ method: 'GET', url }, limits);
  }
  if (res.status === 404 || res.status === 410) return { certs: [], problems: [], method, url };
  if (res.status < 200 || res.status >= 300) {
    const message = `WKD server answered ${url} with HTTP ${res.status}`;
    const data = { url, status: res.status };
    if (res.status >= 500 || res.status === 429) throw new TemporaryError('MS_WKD_SERVER_ERROR', message, { data });
    throw new InputError('MS_WKD_REJECTED', message, { data });
  }
  const problems: MsError[] = [];
  const ring = new Keyring();
  try {
    // The draft requires binary; armored replies are accepted too, as GnuPG does.
    const read = readCerts(dearmor(res.body), { allowSecret: false });
    problems.push(...read.problems);
    for (const c of read.certs) {
      const kept = keepAddress(c, wanted);
      if (kept) ring.add(kept);
      else problems.push(new InputError('MS_WKD_FOREIGN_CERT', `WKD certificate ${c.primary.fpr} has no user ID for ${wanted}; dropped`, { data: { fpr: c.primary.fpr } }));
    }
  } catch (err) {
    if (!(err instanceof MsError)) throw err;
    problems.push(err);
  }
  return { certs: [...ring], problems, method, url };
}
