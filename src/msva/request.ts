/**
 * A `/reviewcert` request (behaviour inventory §6), parsed into a typed value with the
 * user ID it asks about, built from the context and the peer exactly as msva-perl 0.9.2
 * builds it (its regular expressions, Perl's `$` included, which also matches before a
 * final newline). Pure: no I/O, no trust. A request that cannot be answered is a
 * RequestError with the original's wording and the HTTP status we answer it with.
 */
import { InputError } from '../errors.js';

/** The contexts msva-perl knows, in its order. */
export const CONTEXTS = ['https', 'ssh', 'smtp', 'ike', 'postgresql', 'imaps', 'imap', 'submission', 'e-mail'] as const;
export type Context = (typeof CONTEXTS)[number];

export const PEER_TYPES = ['client', 'server', 'peer'] as const;
export type PeerType = (typeof PEER_TYPES)[number];

export const PKC_TYPES = ['x509der', 'x509pem', 'opensshpubkey', 'rfc4716', 'openpgp4fpr'] as const;
export type PkcType = (typeof PKC_TYPES)[number];

export const KEYSERVER_POLICIES = ['always', 'never', 'unlessvalid'] as const;
export type KeyserverPolicy = (typeof KEYSERVER_POLICIES)[number];

/** The public key carrier: `x509der` data is the certificate's bytes, the others text. */
export type Pkc = { type: 'x509der'; data: Buffer } | { type: Exclude<PkcType, 'x509der'>; data: string };

export interface ReviewRequest {
  context: Context;
  peer: { name: string; type?: PeerType };
  pkc: Pkc;
  /** The request's own policy (`keyserverpolicy`), when it names a valid one. */
  keyserverPolicy?: KeyserverPolicy;
  /** The OpenPGP user ID to validate: `context://name`, or the bare name (see userIdFor). */
  userId: string;
}

/**
 * A request that is not answered with a verdict. `message` is what the original put in its
 * reply (where it had one); the code is in docs/errors.md.
 */
export class RequestError extends InputError {
  constructor(
    code: string,
    readonly status: number,
    message: string,
  ) {
    super(code, message);
  }
}

/** Perl's `/^(…)$/`: `$` also matches before one final newline, which the capture leaves out. */
function perlWhole(pattern: string): RegExp {
  return new RegExp(`^(${pattern})\\n?$`);
}

/** Regexp::Common's `$RE{net}{domain}` (it admits a single space, as RFC 1035's grammar does). */
const DOMAIN = '(?: |(?:[A-Za-z](?:(?:[-A-Za-z0-9]){0,61}[A-Za-z0-9])?(?:\\.[A-Za-z](?:(?:[-A-Za-z0-9]){0,61}[A-Za-z0-9])?)*))';
const SERVICE_NAME = perlWhole(`${DOMAIN}(?::[0-9]+)?`);
/** Any one line without NUL and without leading or trailing white space (Perl's [:space:] includes \v). */
const CLIENT_NAME = perlWhole('[^\\s\\v][^\\n\\0]*[^\\s\\v]|[^\\0\\s\\v]');
const CONTEXT = perlWhole(CONTEXTS.join('|'));
const PEER_TYPE = perlWhole(PEER_TYPES.join('|'));
const POLICY = perlWhole(KEYSERVER_POLICIES.join('|'));
const FINGERPRINT = /^(?:0x)?([0-9A-Fa-f]{40})\n?$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function wrongType(what: string, expected: string, got: unknown): RequestError {
  const kind = got === null ? 'null' : Array.isArray(got) ? 'an array' : typeof got;
  return new RequestError('MS_MSVA_REQUEST', 400, `Malformed request: ${what} must be ${expected}, not ${kind}.`);
}

/**
 * The user ID msva-perl asks gpg about: `C://N`, except for `e-mail` and for `client` peers
 * outside ike and smtp (whose clients are servers too), where it is the bare name, any one
 * line. Otherwise the name must be a DNS name (labels starting with a letter) with an
 * optional `:port`; case and port are kept, so they must match the user ID exactly.
 * @throws RequestError (MS_MSVA_PEER) with the original's message for a name it refuses.
 */
export function userIdFor(context: Context, name: string, type?: PeerType): string {
  if (context === 'e-mail' || (type === 'client' && context !== 'ike' && context !== 'smtp')) {
    const m = CLIENT_NAME.exec(name);
    if (!m) throw new RequestError('MS_MSVA_PEER', 400, `Invalid client peer name string: ${name}`);
    return m[1];
  }
  const m = SERVICE_NAME.exec(name);
  if (!m) throw new RequestError('MS_MSVA_PEER', 400, `Invalid peer name string: ${name}`);
  return `${context}://${m[1]}`;
}

/** A certificate's bytes from msva's `x509der` form: an array of byte values. */
function derBytes(data: unknown): Buffer {
  if (!Array.isArray(data)) throw wrongType('pkc.data of an x509der carrier', 'an array of byte values', data);
  const out = Buffer.alloc(data.length);
  data.forEach((b, i) => {
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0 || b > 255) {
      throw new RequestError('MS_MSVA_REQUEST', 400, `Malformed request: pkc.data[${i}] is not a byte value (an integer from 0 to 255).`);
    }
    out[i] = b;
  });
  return out;
}

/**
 * Parses a `/reviewcert` body (already decoded from JSON), in the original's order of
 * checks: empty key data, context, peer type, peer name, carrier.
 * @throws RequestError: MS_MSVA_REQUEST (not an object, wrong types), MS_MSVA_EMPTY,
 *         MS_MSVA_CONTEXT, MS_MSVA_PEER, MS_MSVA_PKC_TYPE, MS_MSVA_FINGERPRINT.
 */
export function parseReviewRequest(body: unknown): ReviewRequest {
  if (!isObject(body)) throw wrongType('the request', 'a JSON object', body);
  const pkcRaw = body.pkc;
  if (pkcRaw !== undefined && !isObject(pkcRaw)) throw wrongType('pkc', 'an object', pkcRaw);
  const data = pkcRaw?.data;
  if (data === undefined || data === null || data === '') throw new RequestError('MS_MSVA_EMPTY', 400, 'Key data empty.');

  const contextRaw = body.context;
  if (typeof contextRaw !== 'string') {
    if (contextRaw === undefined) throw new RequestError('MS_MSVA_CONTEXT', 400, 'Invalid/unknown context: ');
    throw wrongType('context', 'a string', contextRaw);
  }
  const cm = CONTEXT.exec(contextRaw);
  if (!cm) throw new RequestError('MS_MSVA_CONTEXT', 400, `Invalid/unknown context: ${contextRaw}`);
  const context = cm[1] as Context;

  // Old clients sent the peer as a bare string.
  const peerRaw = isObject(body.peer) ? body.peer : { name: body.peer };
  let type: PeerType | undefined;
  if (peerRaw.type !== undefined && peerRaw.type !== null) {
    if (typeof peerRaw.type !== 'string') throw wrongType('peer.type', 'a string', peerRaw.type);
    const tm = PEER_TYPE.exec(peerRaw.type);
    if (!tm) throw new RequestError('MS_MSVA_PEER', 400, `Invalid peer type string: ${peerRaw.type}`);
    type = tm[1] as PeerType;
  }
  if (typeof peerRaw.name !== 'string') throw wrongType('peer.name', 'a string', peerRaw.name);
  const userId = userIdFor(context, peerRaw.name, type);
  const name = userId.startsWith(`${context}://`) ? userId.slice(context.length + 3) : userId;

  if (typeof pkcRaw?.type !== 'string') throw wrongType('pkc.type', 'a string', pkcRaw?.type);
  const pkcType = pkcRaw.type.toLowerCase();
  let pkc: Pkc;
  if (pkcType === 'x509der') pkc = { type: 'x509der', data: derBytes(data) };
  else if ((PKC_TYPES as readonly string[]).includes(pkcType)) {
    if (typeof data !== 'string') throw wrongType(`pkc.data of an ${pkcType} carrier`, 'a string', data);
    if (pkcType === 'openpgp4fpr') {
      const fm = FINGERPRINT.exec(data);
      if (!fm) throw new RequestError('MS_MSVA_FINGERPRINT', 400, 'Invalid OpenPGP v4 fingerprint.');
      pkc = { type: 'openpgp4fpr', data: fm[1].toUpperCase() };
    } else pkc = { type: pkcType as Exclude<PkcType, 'x509der' | 'openpgp4fpr'>, data };
  } else throw new RequestError('MS_MSVA_PKC_TYPE', 400, `Don't know this public key carrier type: ${pkcRaw.type}`);

  let keyserverPolicy: KeyserverPolicy | undefined;
  if (typeof body.keyserverpolicy === 'string') {
    const pm = POLICY.exec(body.keyserverpolicy);
    if (pm) keyserverPolicy = pm[1] as KeyserverPolicy;
  }
  return { context, peer: { name, type }, pkc, keyserverPolicy, userId };
}
