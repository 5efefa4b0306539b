/**
 * HKP v1 requests to one keyserver (`/pks/lookup`, `/pks/add`), shaped as GnuPG 2.2.40
 * sends them, and the one place where HTTP statuses become answers or errors. No
 * failover and no OpenPGP parsing here; see client.ts.
 */
import { InputError, TemporaryError, UnsupportedError } from '../errors.js';
import { boundedRequest, type HttpLimits, type HttpResponse } from './http.js';
import type { KeyserverUrl } from './url.js';

/** The server answered: `found` with a body, or `not-found` (HTTP 404). */
export type HkpAnswer = { kind: 'found'; response: HttpResponse } | { kind: 'not-found'; response: HttpResponse };

export type HkpLimits = Omit<HttpLimits, 'codePrefix'>;

/**
 * Escapes a search term the way GnuPG does: reserved characters and non-ASCII are
 * %-escaped, while `:`, `/` and `@` stay readable (`search=ssh://host.example.org`).
 */
export function encodeSearch(term: string): string {
  return encodeURIComponent(term).replace(/%3A/g, ':').replace(/%2F/g, '/').replace(/%40/g, '@');
}

/** The lookup URL for `op` and `search`, parameters in GnuPG's order. */
export function lookupUrl(server: KeyserverUrl, op: 'get' | 'index', search: string): string {
  const extra = op === 'index' ? '&fingerprint=on' : '';
  return `${server.origin}/pks/lookup?op=${op}&options=mr${extra}&search=${encodeSearch(search)}`;
}

/** Text of an error body, short and printable, for messages. */
function bodyExcerpt(res: HttpResponse): string {
  const text = res.body
    .subarray(0, 2048)
    .toString('utf8')
    .replace(/<[^>]*>/g, ' ')
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/**
 * Maps an HTTP status to an answer or an error. 200 is an answer, 404 is the answer
 * "no such key"; everything else is a failure of this server.
 * @throws TemporaryError (MS_KEYSERVER_SERVER_ERROR) for 5xx and 429; UnsupportedError
 *   (MS_KEYSERVER_UNSUPPORTED) for 501; InputError (MS_KEYSERVER_REJECTED) for other statuses.
 */
export function answerFor(server: KeyserverUrl, what: string, res: HttpResponse): HkpAnswer {
  if (res.status >= 200 && res.status < 300) return { kind: 'found', response: res };
  if (res.status === 404 || res.status === 410) return { kind: 'not-found', response: res };
  const excerpt = bodyExcerpt(res);
  const message = `${server.text} answered ${what} with HTTP ${res.status}${excerpt ? ` (${excerpt})` : ''}`;
  const data = { server: server.text, status: res.status, url: res.url };
  if (res.status === 501) throw new UnsupportedError('MS_KEYSERVER_UNSUPPORTED', message, { data });
  if (res.status >= 500 || res.status === 429 || res.status === 408) throw new TemporaryError('MS_KEYSERVER_SERVER_ERROR', message, { data });
  throw new InputError('MS_KEYSERVER_REJECTED', message, { data });
}

/** `op=get`: armored certificates for a `0x`-prefixed key ID or fingerprint. */
export async function hkpGet(server: KeyserverUrl, search: string, limits: HkpLimits): Promise<HkpAnswer> {
  const res = await boundedRequest({ method: 'GET', url: lookupUrl(server, 'get', search) }, { ...limits, codePrefix: 'MS_KEYSERVER' });
  return answerFor(server, `get ${search}`, res);
}

/** `op=index`: the machine-readable index for a text search. */
export async function hkpIndex(server: KeyserverUrl, search: string, limits: HkpLimits): Promise<HkpAnswer> {
  const res = await boundedRequest({ method: 'GET', url: lookupUrl(server, 'index', search) }, { ...limits, codePrefix: 'MS_KEYSERVER' });
  return answerFor(server, `index ${JSON.stringify(search)}`, res);
}

/**
 * `POST /pks/add` with `keytext=<armored>`, form-encoded.
 * @throws as answerFor(); a 404 here is a failure too (the server has no /pks/add).
 */
export async function hkpAdd(server: KeyserverUrl, armored: string, limits: HkpLimits): Promise<HttpResponse> {
  const res = await boundedRequest(
    {
      method: 'POST',
      url: `${server.origin}/pks/add`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `keytext=${encodeURIComponent(armored)}`,
    },
    { ...limits, codePrefix: 'MS_KEYSERVER' },
  );
  const answer = answerFor(server, 'an upload', res);
  if (answer.kind === 'not-found') {
    throw new InputError('MS_KEYSERVER_REJECTED', `${server.text} has no upload endpoint (HTTP ${res.status} for /pks/add)`, {
      data: { server: server.text, status: res.status },
    });
  }
  return res;
}
