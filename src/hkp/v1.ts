/**
 * HKP v1 as clients use it (draft-shaw-openpgp-hkp-00, GnuPG 2.2.40's dirmngr, SKS 1.1.6):
 * `GET /pks/lookup` with `op=get|index|vindex|stats|hget`, `options=mr`, `exact`,
 * `fingerprint`; `POST /pks/add` (form field `keytext`, or a binary or armored body);
 * `POST /pks/hashquery` (SKS's binary digest query). A v6 certificate is served here only to
 * a search by its full fingerprint: GnuPG 2.2 cannot read one (the HKP draft §9.1).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isoDate, type UnixTime } from '../clock.js';
import { hashqueryAnswerParts, parseHashqueryRequest } from '../keyserver/hashquery.js';
import { formatMrIndex } from '../keyserver/mr-index.js';
import { PubKeyAlg } from '../openpgp/algorithms.js';
import { formatFingerprint } from '../openpgp/fingerprint.js';
import type { StoredCert } from '../store/types.js';
import { withoutControls } from '../util/printable.js';
import { badQuery, notFound } from './errors.js';
import { findByKey, findByText, parseSearch, type Search } from './find.js';
import { sendJson, sendText } from './respond.js';
import type { KeyserverService, SubmitReport } from './service.js';
import { sendArmored, sendBinary } from './stream.js';
import { type CertSummary, indexKey, type Summaries } from '../server/summary.js';

export interface V1Context {
  ks: KeyserverService;
  summaries: Summaries;
  now: () => UnixTime;
  maxResults: number;
  version: string;
  /** More of `op=stats` and `/metrics` (the recon peers), produced elsewhere. */
  status?: StatusSection;
}

/** An extra section of `op=stats` (text lines, JSON members) and `/metrics` (exposition text). */
export interface StatusSection {
  metrics(): Promise<string>;
  stats(): Promise<{ text: string; json: Record<string, unknown> }>;
}

export type LookupOp = 'get' | 'index' | 'vindex' | 'stats' | 'hget';

export interface LookupRequest {
  op: LookupOp;
  /** `options=mr`: machine-readable answers. */
  mr: boolean;
  exact: boolean;
  fingerprint: boolean;
  search?: string;
  /** SKS's `limit=N`: at most N certificates; 0 answers only their number. */
  limit?: number;
}

const OPS: Readonly<Record<string, LookupOp>> = { get: 'get', index: 'index', vindex: 'vindex', stats: 'stats', hget: 'hget', 'x-hget': 'hget' };
const on = (v: string | null) => v !== null && /^(on|1|true|yes)$/i.test(v);

/**
 * Parses the query of `/pks/lookup`.
 * @throws UsageError (MS_HKP_BAD_QUERY) for a missing or unknown `op`, or a missing `search`.
 */
export function parseLookup(params: URLSearchParams): LookupRequest {
  const rawOp = (params.get('op') ?? '').toLowerCase();
  const op = OPS[rawOp];
  if (!op) throw badQuery(rawOp === '' ? 'missing op' : `unknown op ${JSON.stringify(rawOp.slice(0, 40))}`);
  const options = (params.get('options') ?? '').toLowerCase().split(',');
  const search = params.get('search') ?? undefined;
  if (op !== 'stats' && (search === undefined || search.trim() === '')) throw badQuery(`op=${op} needs a search`);
  const rawLimit = params.get('limit');
  if (rawLimit !== null && !/^\d{1,9}$/.test(rawLimit)) throw badQuery('limit must be a whole number');
  const limit = rawLimit === null ? undefined : Number(rawLimit);
  return { op, mr: options.includes('mr'), exact: on(params.get('exact')), fingerprint: on(params.get('fingerprint')), search, limit };
}

async function find(ctx: V1Context, search: Search, exact: boolean): Promise<StoredCert[]> {
  const store = ctx.ks.store;
  if (search.kind !== 'text') return findByKey(store, search, { v4Only: search.kind !== 'fingerprint' || search.hex.length === 40, limit: ctx.maxResults });
  const found = await findByText(store, search.text, { exact, limit: ctx.maxResults });
  return found.filter((c) => c.fpr.length === 40);
}

const ALGO_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(PubKeyAlg).map(([name, n]) => [n, name.toLowerCase()]));

/** The human-readable listing (`op=index`/`vindex` without `mr`): plain text, never HTML. */
function textIndex(summaries: CertSummary[], stored: StoredCert[], verbose: boolean): string {
  const out: string[] = [];
  summaries.forEach((s, i) => {
    const flags = [s.revoked ? 'revoked' : '', s.expired ? 'expired' : '', s.expires ? `expires ${isoDate(s.expires)}` : ''].filter((f) => f).join(', ');
    out.push(`pub  ${ALGO_NAMES[s.algorithm] ?? `algo${s.algorithm}`}${s.bits ? `/${s.bits}` : ''} ${s.keyId} ${isoDate(s.created)}${flags ? ` [${flags}]` : ''}`);
    out.push(`     ${formatFingerprint(s.fpr)}`);
    for (const u of s.userIds) {
      out.push(`uid  ${withoutControls(u.text)}${u.revoked ? ' [revoked]' : u.expired ? ' [expired]' : ''}`);
      if (!verbose) continue;
      const user = stored[i].cert.users.find((c) => c.kind === 'userid' && c.packet.body.equals(u.bytes));
      for (const e of user?.signatures ?? []) {
        const sig = e.sig;
        if (!sig) continue;
        const issuer = sig.issuerFingerprints[0] ?? sig.issuerKeyIds[0] ?? '?';
        const self = issuer === s.fpr || issuer === s.keyId;
        out.push(`sig  0x${sig.type.toString(16).padStart(2, '0')} ${issuer.slice(-16)} ${isoDate(sig.created)}${self ? ' [selfsig]' : ''}`);
      }
    }
    for (const k of s.subkeys) out.push(`sub  ${ALGO_NAMES[k.algorithm] ?? `algo${k.algorithm}`}${k.bits ? `/${k.bits}` : ''} ${k.keyId} ${isoDate(k.created)}${k.revoked ? ' [revoked]' : k.expired ? ' [expired]' : ''}`);
    out.push('');
  });
  return out.join('\n');
}

/** The headers of `op=get`: a file to save for machines (`mr`), text to read for people. */
const KEYS_MR = { 'content-type': 'application/pgp-keys; charset=utf-8', 'content-disposition': 'attachment; filename=gpgkey.asc' };
const KEYS_TEXT = { 'content-type': 'text/plain; charset=utf-8' };

/** Answers `GET|HEAD /pks/lookup`. */
export async function lookup(ctx: V1Context, res: ServerResponse, url: URL): Promise<void> {
  const q = parseLookup(url.searchParams);
  const now = ctx.now();
  if (q.op === 'stats') {
    const numkeys = await ctx.ks.store.certs.count();
    const extra = (await ctx.status?.stats()) ?? { text: '', json: {} };
    if (q.mr) sendJson(res, 200, { software: 'monkeysphere-keyserver', version: ctx.version, now: new Date(now * 1000).toISOString(), numkeys, ...extra.json });
    else sendText(res, 200, `monkeysphere-keyserver ${ctx.version}\ncertificates: ${numkeys}\n${extra.text}`);
    return;
  }
  let found: StoredCert[];
  if (q.op === 'hget') {
    const hex = (q.search ?? '').trim().replace(/^0x/i, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw badQuery('hget needs an SKS hash of 32 hex digits');
    found = await ctx.ks.store.digests.byDigest([Buffer.from(hex, 'hex')]);
  } else {
    found = await find(ctx, parseSearch(q.search ?? ''), q.exact);
  }
  if (found.length === 0) throw notFound('No results found');
  const count = { 'x-hkp-results-count': found.length, 'cache-control': 'no-cache' };
  if (q.limit === 0) {
    // SKS: limit=0 answers only how many there are.
    sendText(res, 200, q.mr && q.op !== 'get' && q.op !== 'hget' ? `info:1:${found.length}\n` : '', count);
    return;
  }
  if (q.limit !== undefined) found = found.slice(0, q.limit);
  if (q.op === 'get' || q.op === 'hget') {
    await sendArmored(res, Object.assign(count, q.mr ? KEYS_MR : KEYS_TEXT), found.map((c) => c.bytes));
    return;
  }
  const summaries = await ctx.summaries.of(found, now);
  // GnuPG reads the machine-readable index for vindex too; both list keys and user IDs.
  const body = q.mr ? formatMrIndex(summaries.map(indexKey)) : textIndex(summaries, found, q.op === 'vindex');
  sendText(res, 200, body, count);
}

/** The text of an upload: form fields `keytext` (all of them), or the body itself when it is not a form. */
export function uploadText(req: IncomingMessage, body: Buffer): Buffer {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('application/x-www-form-urlencoded') || (type === '' && body.subarray(0, 8).toString('latin1') === 'keytext=')) {
    const texts = new URLSearchParams(body.toString('latin1')).getAll('keytext');
    if (texts.length === 0) throw badQuery('no keytext field in the form');
    // The form was decoded as latin1 so that every byte survives; armor is ASCII anyway.
    return Buffer.concat(texts.map((t) => Buffer.from(t, 'latin1')));
  }
  if (body.length === 0) throw badQuery('empty upload');
  return body;
}

/** What an upload did, one line per certificate (`status fingerprint`), as text. */
export function reportText(report: SubmitReport): string {
  return report.certs.map((c) => `${c.status} ${c.fpr}${c.userIds.length > 0 ? ` ${c.userIds.map((u) => JSON.stringify(u)).join(' ')}` : ''}\n`).join('');
}

/** Parses a hashquery body (src/keyserver/hashquery.ts); a malformed one is a bad query (400). */
export function parseHashquery(body: Buffer, maxHashes: number): Buffer[] {
  return parseHashqueryRequest(body, maxHashes, (what) => badQuery(what));
}

/** Answers a hashquery: `int32 n`, n × (`int32 len`, binary certificate), then CRLF (SKS 1.1.6). */
export async function hashquery(ctx: V1Context, res: ServerResponse, digests: Buffer[], maxBytes: number): Promise<void> {
  const found = await ctx.ks.store.digests.byDigest(digests);
  const certs: Buffer[] = [];
  let total = 0;
  for (const c of found) {
    if (total + c.bytes.length > maxBytes) break;
    certs.push(c.bytes);
    total += c.bytes.length + 4;
  }
  await sendBinary(res, { 'content-type': 'pgp/keys' }, hashqueryAnswerParts(certs));
}
