/**
 * The keyserver client every tool uses: an ordered list of HKP servers with failover,
 * per-request timeouts, a total deadline per operation and a response size cap.
 * Everything fetched is parsed with readCerts and merged by fingerprint; nothing here
 * decides validity or trust, so results are data to be judged by cert/ and wot/.
 *
 * Answers versus failures: HTTP 200 and 404 are answers from a server and end the
 * operation; a network error, a timeout, a 5xx, any other status, an oversized body or
 * a response with nothing usable in it is a failure, and the next server is tried.
 *
 * Not found: lookups by fingerprint or key ID throw NotFoundError, since the caller
 * asked for one specific key; searches (searchExact) return an empty result, since
 * "nobody has published this user ID" is an ordinary answer; refresh lists the
 * fingerprints no server had in `notFound` and keeps those certificates unchanged.
 */
import { InputError, MsError, NotFoundError, TemporaryError } from '../errors.js';
import { Keyring } from '../keyring/keyring.js';
import { armor, dearmor } from '../openpgp/armor.js';
import { type Cert, readCerts } from '../openpgp/cert.js';
import { type KeySpec, parseKeySpec } from '../openpgp/fingerprint.js';
import { mergeCerts } from '../openpgp/merge.js';
import { Tag } from '../openpgp/packets.js';
import { hkpAdd, hkpGet, hkpIndex, type HkpLimits } from './hkp.js';
import type { FetchFn } from './http.js';
import { type IndexKey, parseMrIndex } from './mr-index.js';
import { DEFAULT_KEYSERVER, type KeyserverUrl, parseKeyserverUrl } from './url.js';

/** 16 MiB: far above any honest certificate, small enough that a flooded one cannot exhaust memory. */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 20_000;
export const DEFAULT_DEADLINE_MS = 120_000;

export interface KeyserverClientOptions {
  /** Servers tried in order (addresses as parseKeyserverUrl takes them); default DEFAULT_KEYSERVER. */
  servers?: (string | KeyserverUrl)[];
  /** Per request, connect to last body byte. */
  timeoutMs?: number;
  /** Per operation (one get, one search with its gets, one whole refresh). */
  deadlineMs?: number;
  maxResponseBytes?: number;
  /** Parallel lookups during refresh (default 4). */
  concurrency?: number;
  /** For tests and proxies; default the global fetch. */
  fetch?: FetchFn;
  /** Progress and diagnostics; the client never prints. */
  onEvent?: (event: KeyserverEvent) => void;
}

export type KeyserverEvent =
  | { type: 'request'; server: string; op: string }
  | { type: 'answer'; server: string; op: string; found: boolean; bytes: number }
  | { type: 'failover'; server: string; op: string; error: MsError }
  | { type: 'problem'; server: string; op: string; problem: MsError };

export interface ServerFailure {
  server: string;
  error: MsError;
}

export interface FetchResult {
  /** Certificates, merged by fingerprint. */
  certs: Cert[];
  /** What was skipped while reading, each with its reason. */
  problems: MsError[];
  /** The server that answered. */
  server: string;
  /** Servers that failed before it. */
  failures: ServerFailure[];
}

export interface SearchResult extends FetchResult {
  /** Index entries with a user ID equal to the one searched. */
  matches: IndexKey[];
  /** Index entries whose key could not be fetched (not found, or every server failed). */
  unfetched: { key: IndexKey; error: MsError }[];
}

export interface SendResult {
  server: string;
  failures: ServerFailure[];
  /** Fingerprints of the certificates uploaded. */
  sent: string[];
  /** What could not be read from the input (bytes input only). */
  problems: MsError[];
  /** Non-exportable (local) signatures left out, as gpg --send-keys does. */
  withheldSignatures: number;
  /** The server's reply, as text (SKS: an HTML page saying how many keys were added). */
  reply: string;
}

export interface RefreshResult {
  /** The input certificates (merged by fingerprint), each merged with what a server had. */
  certs: Cert[];
  /** Fingerprints that gained packets. */
  updated: string[];
  /** Fingerprints no server had. */
  notFound: string[];
  /** Fingerprints whose lookup failed; those certificates are returned unchanged. */
  failed: { fpr: string; error: MsError }[];
  problems: MsError[];
}

export interface CallOptions {
  /** Aborts the operation; its reason is thrown when it is an MsError. */
  signal?: AbortSignal;
}

interface Ctx {
  signal: AbortSignal;
  op: string;
}

type GetAnswer = { found: true; certs: Cert[]; problems: MsError[] } | { found: false; problems: MsError[] };

/** The key reference `text` names, or undefined when it is not one (see openpgp/fingerprint). */
function keySpec(text: string): KeySpec | undefined {
  try {
    return parseKeySpec(text);
  } catch (err) {
    if (err instanceof InputError) return undefined;
    throw err;
  }
}

/** Packets fit to publish: no trust or marker packets, no non-exportable signatures (RFC 9580 §5.2.3.19). */
function exportablePackets(cert: Cert): { bytes: Buffer; withheld: number } {
  const local = new Set<Buffer>();
  const all = [cert.directSigs, ...cert.users.map((u) => u.signatures), ...cert.subkeys.map((s) => s.signatures)];
  for (const list of all) for (const s of list) if (s.sig && !s.sig.exportable) local.add(s.packet.raw);
  const keep = cert.packets.filter((p) => p.tag !== Tag.Trust && p.tag !== Tag.Marker && !local.has(p.raw));
  return { bytes: Buffer.concat(keep.map((p) => p.raw)), withheld: local.size };
}

/**
 * A client for an ordered list of HKP keyservers.
 *
 * Failover errors: when no server answered, an operation throws the deadline's
 * TemporaryError (MS_KEYSERVER_DEADLINE) or MS_KEYSERVER_ABORTED for the caller's
 * signal; with a single server, that server's error (TemporaryError MS_KEYSERVER_
 * UNREACHABLE, _TIMEOUT, _SERVER_ERROR; InputError MS_KEYSERVER_TOO_LARGE,
 * _HTML_INDEX, _BAD_RESPONSE, _REJECTED, _REDIRECT; UnsupportedError
 * MS_KEYSERVER_UNSUPPORTED); with several, TemporaryError MS_KEYSERVER_UNAVAILABLE when
 * every failure was temporary, else the first failure that was not. `data.failures`
 * lists each server's error.
 */
export class KeyserverClient {
  readonly servers: readonly KeyserverUrl[];
  private readonly timeoutMs: number;
  private readonly deadlineMs: number;
  private readonly maxBytes: number;
  private readonly concurrency: number;
  private readonly fetchFn: FetchFn | undefined;
  private readonly onEvent: (event: KeyserverEvent) => void;

  /** @throws UsageError (MS_KEYSERVER_URL) for an address that is not a keyserver. */
  constructor(opts: KeyserverClientOptions = {}) {
    const list = opts.servers && opts.servers.length > 0 ? opts.servers : [DEFAULT_KEYSERVER];
    this.servers = list.map((s) => (typeof s === 'string' ? parseKeyserverUrl(s) : s));
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.deadlineMs = opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.maxBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.fetchFn = opts.fetch;
    this.onEvent = opts.onEvent ?? (() => undefined);
  }

  /**
   * Fetches the certificate with this fingerprint (v4 40 hex, v6 64 hex; a subkey's
   * fingerprint finds its primary). Certificates the server sent that match neither
   * the primary nor a subkey are dropped and reported in `problems`.
   * @throws InputError (MS_KEYSERVER_BAD_ID) for a malformed fingerprint; NotFoundError
   *   (MS_KEYSERVER_NOT_FOUND) when the answering server has no such key; the failover
   *   errors described on KeyserverClient.
   */
  async getByFingerprint(fingerprint: string, opts: CallOptions = {}): Promise<FetchResult> {
    const spec = keySpec(fingerprint);
    if (spec?.kind !== 'fingerprint' || spec.exact) {
      throw new InputError('MS_KEYSERVER_BAD_ID', `not a fingerprint: ${JSON.stringify(fingerprint)}`, { hints: ['give 40 hex digits (v4) or 64 (v6)'] });
    }
    const fpr = spec.fpr;
    return this.run(`get 0x${fpr}`, opts, (ctx) => this.fetchOne(fpr, 'fingerprint', ctx, 0));
  }

  /**
   * Fetches certificates with this 16-hex-digit key ID (primary or subkey). Short
   * (8-digit) key IDs are refused: they collide by design.
   * @throws as getByFingerprint().
   */
  async getByKeyId(keyId: string, opts: CallOptions = {}): Promise<FetchResult> {
    const spec = keySpec(keyId);
    if (spec?.kind !== 'keyid' || spec.exact) {
      throw new InputError('MS_KEYSERVER_BAD_ID', `not a 16-digit key ID: ${JSON.stringify(keyId)}`, {
        hints: ['short key IDs collide; give the long key ID or the fingerprint'],
      });
    }
    const id = spec.keyId;
    return this.run(`get 0x${id}`, opts, (ctx) => this.fetchOne(id, 'keyid', ctx, 0));
  }

  /**
   * What Monkeysphere's `gpg --search =UID` then `--recv-keys` does: asks for the index
   * of `userId` (servers match words, so it lists more), keeps the entries with a user
   * ID byte-for-byte equal to `userId`, and fetches each from the server that answered
   * (falling back to the others). Fetched certificates without that exact user ID are
   * dropped and reported. No match is an empty result, not an error.
   * @throws the failover errors described on KeyserverClient when no server answered the index.
   */
  async searchExact(userId: string, opts: CallOptions = {}): Promise<SearchResult> {
    const wanted = Buffer.from(userId, 'utf8');
    return this.run(`search ${JSON.stringify(userId)}`, opts, async (ctx) => {
      const { value: index, server, failures } = await this.withFailover(ctx, 0, async (s, limits) => {
        const answer = await hkpIndex(s, userId, limits);
        this.onEvent({ type: 'answer', server: s.text, op: ctx.op, found: answer.kind === 'found', bytes: answer.response.body.length });
        return answer.kind === 'found' ? parseMrIndex(answer.response.body) : undefined;
      });
      const problems: MsError[] = (index?.problems ?? []).map((p) => this.problem(server, ctx.op, p));
      const matches = (index?.keys ?? []).filter((k) => k.userIds.some((u) => u.bytes.equals(wanted)));
      const unfetched: SearchResult['unfetched'] = [];
      const ring = new Keyring();
      const start = this.servers.findIndex((s) => s.text === server);
      const seen = new Set<string>();
      for (const key of matches) {
        if (seen.has(key.id)) continue;
        seen.add(key.id);
        try {
          const got = await this.fetchOne(key.id, key.idKind === 'fingerprint' ? 'fingerprint' : 'keyid', { ...ctx, op: `get 0x${key.id}` }, start);
          problems.push(...got.problems);
          for (const c of got.certs) ring.add(c);
        } catch (err) {
          if (ctx.signal.aborted || !(err instanceof MsError)) throw err;
          unfetched.push({ key, error: err });
        }
      }
      const certs: Cert[] = [];
      for (const c of ring) {
        if (c.users.some((u) => u.kind === 'userid' && u.packet.body.equals(wanted))) certs.push(c);
        else problems.push(this.problem(server, ctx.op, new InputError('MS_KEYSERVER_UID_MISSING', `certificate ${c.primary.fpr} from ${server} has no user ID ${JSON.stringify(userId)}; dropped`, { data: { fpr: c.primary.fpr } })));
      }
      return { certs, problems, server, failures, matches, unfetched };
    });
  }

  /**
   * Uploads certificates with `POST /pks/add` to the first server that accepts them.
   * Bytes (armored or binary) are read first: what cannot be read is reported in
   * `problems` and not sent. Trust packets and non-exportable signatures are never sent.
   * @throws InputError (MS_KEYSERVER_SECRET_KEY) when given secret keys;
   *   InputError (MS_KEYSERVER_NOTHING_TO_SEND) when no certificate is left to send;
   *   the failover errors described on KeyserverClient when every server refused.
   */
  async send(input: Cert[] | Uint8Array, opts: CallOptions = {}): Promise<SendResult> {
    const problems: MsError[] = [];
    let certs: Cert[];
    if (input instanceof Uint8Array) {
      certs = [];
      try {
        const read = readCerts(dearmor(input), { allowSecret: false });
        certs = read.certs;
        problems.push(...read.problems);
      } catch (err) {
        if (!(err instanceof MsError)) throw err;
        problems.push(err);
      }
    } else certs = input;
    const secret = certs.find((c) => c.secret);
    if (secret) {
      throw new InputError('MS_KEYSERVER_SECRET_KEY', `refusing to upload secret key ${secret.primary.fpr}`, { hints: ['send the public certificate only'] });
    }
    if (certs.length === 0) {
      throw new InputError('MS_KEYSERVER_NOTHING_TO_SEND', 'no certificate to upload', { data: { problems } });
    }
    const parts = certs.map(exportablePackets);
    const armored = armor('PUBLIC KEY BLOCK', Buffer.concat(parts.map((p) => p.bytes)));
    const sent = certs.map((c) => c.primary.fpr);
    return this.run(`send ${sent.length} certificate(s)`, opts, async (ctx) => {
      const { value: reply, server, failures } = await this.withFailover(ctx, 0, async (s, limits) => {
        const res = await hkpAdd(s, armored, limits);
        this.onEvent({ type: 'answer', server: s.text, op: ctx.op, found: true, bytes: res.body.length });
        return res.body.toString('utf8');
      });
      return { server, failures, sent, problems, withheldSignatures: parts.reduce((n, p) => n + p.withheld, 0), reply };
    });
  }

  /**
   * Fetches each certificate by fingerprint and merges what the server has into it
   * (new certifications, revocations, subkeys). Certificates not found, or whose
   * lookup failed, come back unchanged and are listed; only a deadline ends it early.
   * @throws nothing for a single lookup's failure; the deadline's TemporaryError never
   *   escapes either: unfinished lookups are listed in `failed`.
   */
  async refresh(input: Cert[], opts: CallOptions = {}): Promise<RefreshResult> {
    const ring = new Keyring(input);
    const originals = [...ring];
    const result: RefreshResult = { certs: [], updated: [], notFound: [], failed: [], problems: [] };
    const merged = new Map<string, Cert>();
    await this.run(`refresh ${originals.length} certificate(s)`, opts, async (ctx) => {
      let next = 0;
      const worker = async () => {
        while (next < originals.length) {
          const cert = originals[next++];
          const fpr = cert.primary.fpr;
          if (ctx.signal.aborted) {
            result.failed.push({ fpr, error: asMsError(ctx.signal.reason) });
            continue;
          }
          try {
            const got = await this.fetchOne(fpr, 'fingerprint', { ...ctx, op: `refresh 0x${fpr}` }, 0);
            result.problems.push(...got.problems);
            let m = cert;
            for (const c of got.certs) if (c.primary.fpr === fpr) m = mergeCerts(m, c);
            merged.set(fpr, m);
            if (m.packets.length > cert.packets.length) result.updated.push(fpr);
          } catch (err) {
            if (!(err instanceof MsError)) throw err;
            if (err instanceof NotFoundError) result.notFound.push(fpr);
            else result.failed.push({ fpr, error: err });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, originals.length) }, worker));
    });
    result.certs = originals.map((c) => merged.get(c.primary.fpr) ?? c);
    return result;
  }

  /** One get with failover, starting at server `start`; filtered to the requested key. */
  private async fetchOne(id: string, kind: 'fingerprint' | 'keyid', ctx: Ctx, start: number): Promise<FetchResult> {
    const { value, server, failures } = await this.withFailover(ctx, start, async (s, limits) => {
      const answer = await hkpGet(s, `0x${id}`, limits);
      this.onEvent({ type: 'answer', server: s.text, op: ctx.op, found: answer.kind === 'found', bytes: answer.response.body.length });
      if (answer.kind === 'not-found' || answer.response.body.length === 0) return { found: false, problems: [] } as GetAnswer;
      return this.parseGet(s, id, kind, answer.response.body, ctx);
    });
    if (!value.found) {
      throw new NotFoundError('MS_KEYSERVER_NOT_FOUND', `${server} has no key 0x${id}`, { data: { server, id, failures, problems: value.problems } });
    }
    return { certs: value.certs, problems: value.problems, server, failures };
  }

  /** Reads a get reply; a reply with problems and nothing usable is a failure of that server. */
  private parseGet(s: KeyserverUrl, id: string, kind: 'fingerprint' | 'keyid', body: Buffer, ctx: Ctx): GetAnswer {
    const problems: MsError[] = [];
    let certs: Cert[] = [];
    try {
      const read = readCerts(dearmor(body), { allowSecret: false });
      certs = read.certs;
      for (const p of read.problems) problems.push(this.problem(s.text, ctx.op, p));
    } catch (err) {
      if (!(err instanceof MsError)) throw err;
      problems.push(this.problem(s.text, ctx.op, err));
    }
    // endsWith: an index may name a v3-era key by its short (8-digit) key ID.
    const matching = (c: Cert) =>
      kind === 'fingerprint'
        ? c.primary.fpr === id || c.subkeys.some((k) => k.key.fpr === id)
        : c.primary.keyId.endsWith(id) || c.subkeys.some((k) => k.key.keyId.endsWith(id));
    const ring = new Keyring();
    for (const c of certs) {
      if (matching(c)) ring.add(c);
      else {
        problems.push(
          this.problem(s.text, ctx.op, new InputError('MS_KEYSERVER_UNREQUESTED', `${s.text} sent certificate ${c.primary.fpr}, which is not 0x${id}; dropped`, { data: { fpr: c.primary.fpr } })),
        );
      }
    }
    if (ring.size === 0 && problems.length > 0) {
      throw new InputError('MS_KEYSERVER_BAD_RESPONSE', `${s.text} sent nothing usable for 0x${id}: ${problems[0].message}`, {
        cause: problems[0],
        data: { server: s.text, problems },
      });
    }
    if (ring.size === 0) return { found: false, problems };
    return { found: true, certs: [...ring], problems };
  }

  private problem(server: string, op: string, problem: MsError): MsError {
    this.onEvent({ type: 'problem', server, op, problem });
    return problem;
  }

  /** Runs one operation under the total deadline and the caller's signal. */
  private async run<T>(op: string, opts: CallOptions, body: (ctx: Ctx) => Promise<T>): Promise<T> {
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new TemporaryError('MS_KEYSERVER_DEADLINE', `keyserver operation "${op}" did not finish within ${this.deadlineMs} ms`, { data: { op } })),
      this.deadlineMs,
    );
    const signal = opts.signal ? AbortSignal.any([deadline.signal, opts.signal]) : deadline.signal;
    try {
      return await body({ signal, op });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Tries the servers in order from `start` (wrapping around) until one answers.
   * @throws the deadline's TemporaryError (MS_KEYSERVER_DEADLINE) or the caller's abort
   *   reason; with one server, its error; with several that all failed, TemporaryError
   *   (MS_KEYSERVER_UNAVAILABLE) when every failure was temporary, else the first
   *   failure that was not; `data.failures` lists every server's error.
   */
  private async withFailover<T>(ctx: Ctx, start: number, attempt: (s: KeyserverUrl, limits: HkpLimits) => Promise<T>): Promise<{ value: T; server: string; failures: ServerFailure[] }> {
    const failures: ServerFailure[] = [];
    const limits: HkpLimits = { timeoutMs: this.timeoutMs, maxBytes: this.maxBytes, signal: ctx.signal, fetch: this.fetchFn };
    const n = this.servers.length;
    for (let i = 0; i < n; i++) {
      const s = this.servers[(start + i) % n];
      if (ctx.signal.aborted) break;
      this.onEvent({ type: 'request', server: s.text, op: ctx.op });
      try {
        return { value: await attempt(s, limits), server: s.text, failures };
      } catch (err) {
        if (ctx.signal.aborted) break;
        if (!(err instanceof MsError)) throw err;
        const error = err;
        failures.push({ server: s.text, error });
        this.onEvent({ type: 'failover', server: s.text, op: ctx.op, error });
      }
    }
    if (ctx.signal.aborted) throw asMsError(ctx.signal.reason);
    if (failures.length === 1) {
      failures[0].error.data.failures = failures;
      throw failures[0].error;
    }
    const firstHard = failures.find((f) => !(f.error instanceof TemporaryError));
    if (firstHard) {
      firstHard.error.data.failures = failures;
      throw firstHard.error;
    }
    throw new TemporaryError('MS_KEYSERVER_UNAVAILABLE', `no keyserver answered ${ctx.op}: ${failures.map((f) => `${f.server}: ${f.error.message}`).join('; ')}`, {
      cause: new AggregateError(failures.map((f) => f.error)),
      data: { failures },
      hints: ['check the network, or configure another keyserver'],
    });
  }
}

/** An abort reason as an MsError (a caller may abort with anything). */
function asMsError(err: unknown): MsError {
  if (err instanceof MsError) return err;
  return new TemporaryError('MS_KEYSERVER_ABORTED', `keyserver operation aborted: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
