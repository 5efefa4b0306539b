/**
 * What the extension makes of the validation agent's answer (MSVA `/reviewcert`, behaviour
 * inventory §6): one of a few verdicts, each with its words for the toolbar, the popup and
 * the warning page. Pure: no browser API, so node tests import it as it is.
 */

/** The verdicts, from the web of trust's point of view. */
export type VerdictKind =
  /** The agent validated the site's key for `https://host[:port]`. */
  | 'valid'
  /** The user ID is fully valid on other keys, not on the one the site presented: blocked. */
  | 'mismatch'
  /** Certificates carry the user ID, but none makes the presented key valid (not certified enough, revoked, …). */
  | 'invalid'
  /** No certificate carries the user ID: no web-of-trust information. */
  | 'unknown'
  /** The agent could not be asked, or did not answer. */
  | 'error';

/** The `/reviewcert` request for a site's certificate, as the XUL extension sent it (peer = host[:port]). */
export interface ReviewRequestBody {
  context: 'https';
  peer: { name: string; type: 'server' };
  pkc: { type: 'x509der'; data: number[] };
  /** msva-perl's per-request override of MSVA_KEYSERVER_POLICY; absent: the agent's own. */
  keyserverpolicy?: 'never';
}

export function reviewRequest(peer: string, der: ArrayLike<number>, keyserver: 'agent' | 'never' = 'agent'): ReviewRequestBody {
  const body: ReviewRequestBody = { context: 'https', peer: { name: peer, type: 'server' }, pkc: { type: 'x509der', data: Array.from(der) } };
  if (keyserver === 'never') body.keyserverpolicy = 'never';
  return body;
}

/**
 * The peer name for a page: the URL's host with its port when it is not 443 (as the XUL
 * extension's `uri.hostPort`); the agent builds the user ID `https://` + this.
 */
export function peerName(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  return u.protocol === 'https:' ? u.host : undefined;
}

/** What the extension keeps of one answer. */
export interface Classified {
  kind: VerdictKind;
  /** The agent's own words (its `message`), or ours when it could not answer. */
  message: string;
  /** Fingerprints of certificates on which the user ID is fully valid (a mismatch names them). */
  certified: string[];
  /** The agent's `server` member, e.g. "MSVA-Monkeysphere 0.50.0". */
  server?: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Our agent's words when no certificate carries the user ID (src/msva/review.ts, `no-cert`). */
const NO_CERTIFICATE = /no OpenPGP certificate in your keyring carries the user ID/i;

/**
 * Classifies a `/reviewcert` reply (HTTP status and parsed JSON body).
 *
 * A mismatch is decided only from the reply's `validCertificates` member (fingerprints of
 * the certificates on which the user ID is fully valid with a usable key, sent when `valid`
 * is false): without it (msva-perl, or an agent before that member) a refused key is
 * `invalid` or `unknown`, never blocked, since a certificate anyone may publish under the
 * user ID must not block a site. `certificates` (how many carry the user ID) tells
 * `unknown` from `invalid`; without it our agent's wording does.
 */
export function classifyReply(status: number, body: unknown): Classified {
  const server = isObject(body) && typeof body.server === 'string' ? body.server : undefined;
  const message = isObject(body) && typeof body.message === 'string' ? body.message : '';
  if (status !== 200 || !isObject(body) || typeof body.valid !== 'boolean') {
    const error = isObject(body) && isObject(body.error) && typeof body.error.message === 'string' ? body.error.message : message;
    return { kind: 'error', message: `The validation agent answered HTTP ${status}${error ? `: ${error}` : '.'}`, certified: [], server };
  }
  if (body.valid) return { kind: 'valid', message, certified: [], server };
  const certified = Array.isArray(body.validCertificates) ? body.validCertificates.filter((f): f is string => typeof f === 'string' && /^[0-9A-Fa-f]{32,64}$/.test(f)).map((f) => f.toUpperCase()) : [];
  if (certified.length > 0) return { kind: 'mismatch', message, certified, server };
  const unknown = typeof body.certificates === 'number' ? body.certificates === 0 : NO_CERTIFICATE.test(message);
  return { kind: unknown ? 'unknown' : 'invalid', message, certified: [], server };
}

/** Words and colours for each verdict: the toolbar's badge and title, the popup's headline. */
export const WORDS: Record<VerdictKind, { badge: string; colour: string; headline: string }> = {
  valid: { badge: '✓', colour: '#1a7f37', headline: 'Valid through the OpenPGP web of trust' },
  mismatch: { badge: '✗', colour: '#c62828', headline: 'Blocked: the web of trust vouches for a different key' },
  invalid: { badge: '!', colour: '#b35900', headline: 'Not valid through the OpenPGP web of trust' },
  unknown: { badge: '?', colour: '#6a737d', headline: 'No web-of-trust information' },
  error: { badge: '…', colour: '#6a737d', headline: 'The validation agent could not be asked' },
};

/** The headline for a verdict; a mismatch the user proceeded to says so. */
export function headline(kind: VerdictKind, proceeded = false): string {
  return kind === 'mismatch' && proceeded ? 'Proceeded anyway: the web of trust vouches for a different key' : WORDS[kind].headline;
}

/** Formats a fingerprint in groups of four, as gpg prints it. */
export function formatFingerprint(fpr: string): string {
  return fpr.replace(/(.{4})(?=.)/g, '$1 ');
}
