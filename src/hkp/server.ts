/**
 * The keyserver's HTTP server, on node:http: routes HKP v1 and v2, VKS, WKD, `/pks/health` and
 * `/metrics` (and hands every other path to the web pages), maps errors to statuses in one
 * place (errors.ts), and keeps a malicious client from stalling others: capped bodies, header
 * and body timeouts, an idle timeout, a cap on connections, per-client rate limits, answers
 * streamed with backpressure. Machine-readable requests never get HTML.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { systemTime, type UnixTime } from '../clock.js';
import { errorMessage, MsError } from '../errors.js';
import { badQuery, notFound, nothingUsable, rateLimited, statusFor } from './errors.js';
import { RateLimiter, type RateOptions } from './limits.js';
import { Metrics, type MetricsSnapshot } from './metrics.js';
import { clientOf, head, readBody, sendBytes, sendJson, sendText } from './respond.js';
import type { KeyserverService, SubmitReport } from './service.js';
import { Summaries } from '../server/summary.js';
import { hashquery, lookup, parseHashquery, reportText, type StatusSection, uploadText, type V1Context } from './v1.js';
import { V2_CATEGORIES, v2, vks, vksKeytext, vksUploadAnswer } from './v2.js';
import { type WebHandler, webHandler } from './web/index.js';
import { onlyUserIds, parseWkdPath, userIdMatches, wkdHash } from './wkd.js';

/** The web pages' handler (src/hkp/web/): true when it answered the request. */
export type { WebHandler };

/** Where the server logs: the command's logger (src/cli/log.ts) fits. */
export interface HkpLog {
  error(message: string): void;
  info(message: string): void;
  verbose(message: string): void;
  debug(message: string): void;
  /** Whether messages at `level` are written (then the per-request line is built; default: yes). */
  enabled?(level: 'DEBUG'): boolean;
}

export interface HkpServerOptions {
  ks: KeyserverService;
  /** The reference time of each request (default: the system clock). */
  now?: () => UnixTime;
  log?: HkpLog;
  /** Largest request body, bytes (default 16 MiB). */
  maxBodyBytes?: number;
  /** Most open connections; more are refused at once (default 1024). */
  maxConnections?: number;
  /** Time a client has to send its headers, ms (default 10 s). */
  headersTimeoutMs?: number;
  /** Time a client has to send its whole request, ms (default 60 s). */
  requestTimeoutMs?: number;
  /** A connection silent this long is closed, ms (default 60 s). */
  idleTimeoutMs?: number;
  /** Most certificates in one answer (default 100, as Hockeypuck). */
  maxResults?: number;
  /** Uploads per client (default burst 20, then one per 2 s); false for none. */
  uploadRate?: RateOptions | false;
  /** Lookups per client (default: not limited). */
  readRate?: RateOptions | false;
  /** Take the client's address from the last X-Forwarded-For entry (behind a reverse proxy). */
  trustProxy?: boolean;
  /** WKD only for these domains (default: any domain the request names). */
  wkdDomains?: string[];
  /** The web pages (default: src/hkp/web/ over the same service); false for none (a plain page at `/`). */
  web?: WebHandler | false;
  version?: string;
  /** More for `op=stats` and `/metrics`: the recon peers (src/server/recon-status.ts). */
  status?: StatusSection;
  /**
   * One of several processes on one socket (`serve --workers`): uploads are counted against
   * the clients' buckets by this gate (which answers the wait in seconds, 0 to go ahead)
   * instead of this process's own, and `/metrics` adds up what `allMetrics` returns.
   */
  cluster?: {
    takeUpload(client: string): Promise<number>;
    allMetrics(): Promise<MetricsSnapshot[]>;
  };
}

const noLog: HkpLog = { error() {}, info() {}, verbose() {}, debug() {} };

/** Which metrics route a path counts under. */
function routeOf(path: string): string {
  if (path === '/pks/lookup' || path === '/pks/add' || path === '/pks/hashquery' || path === '/pks/health' || path === '/metrics') return path;
  if (path.startsWith('/pks/v2/')) return '/pks/v2';
  if (path.startsWith('/vks/v1/')) return '/vks/v1';
  if (path.startsWith('/.well-known/openpgpkey/')) return '/.well-known/openpgpkey';
  return 'web';
}

/** Whether the answer to this request must be machine-readable (no HTML, errors as text or JSON). */
function isApi(route: string): boolean {
  return route !== 'web';
}

export class HkpServer {
  readonly http: Server;
  readonly metrics = new Metrics();
  private readonly ctx: V1Context;
  private readonly log: HkpLog;
  private readonly maxBody: number;
  private readonly uploads?: RateLimiter;
  private readonly reads?: RateLimiter;
  private readonly webPages?: WebHandler;
  private countCache?: { at: number; value: number };
  /** A line per request at DEBUG: built only when it is written. */
  private readonly logRequests: boolean;
  private closing = false;

  constructor(private readonly opts: HkpServerOptions) {
    this.log = opts.log ?? noLog;
    this.logRequests = opts.log?.enabled?.('DEBUG') ?? opts.log !== undefined;
    this.maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
    this.ctx = {
      ks: opts.ks,
      summaries: new Summaries(opts.ks.store),
      now: opts.now ?? systemTime,
      maxResults: opts.maxResults ?? 100,
      version: opts.version ?? 'unknown',
      status: opts.status,
    };
    if (opts.uploadRate !== false) this.uploads = new RateLimiter(opts.uploadRate ?? { burst: 20, perSecond: 0.5 });
    if (opts.readRate) this.reads = new RateLimiter(opts.readRate);
    if (opts.web !== false) {
      this.webPages =
        opts.web ??
        webHandler({
          ks: opts.ks,
          now: this.ctx.now,
          resultLimit: this.ctx.maxResults,
          clientOf: (req) => clientOf(req, opts.trustProxy ?? false),
          // The upload form draws on the same per-client bucket as /pks/add.
          admitUpload: (req) => this.limitUpload(clientOf(req, opts.trustProxy ?? false)),
          onError: (err, req) => this.log.error(`internal error answering ${req.method} ${req.url}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
        });
    }
    const headersTimeout = opts.headersTimeoutMs ?? 10_000;
    this.http = createServer(
      {
        headersTimeout,
        requestTimeout: opts.requestTimeoutMs ?? 60_000,
        keepAliveTimeout: 5_000,
        // How often the header and request timeouts are checked (node's default is 30 s).
        connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 2))),
        maxHeaderSize: 16 * 1024,
      },
      (req, res) => void this.handle(req, res),
    );
    this.http.maxConnections = opts.maxConnections ?? 1024;
    // Headers past the 200th are dropped (node checks the 16 KiB cap per header line, not in total).
    this.http.maxHeadersCount = 200;
    this.http.setTimeout(opts.idleTimeoutMs ?? 60_000, (socket: Socket) => socket.destroy());
    this.http.on('connection', (socket: Socket) => {
      this.metrics.connections++;
      socket.on('close', () => {
        this.metrics.connections--;
      });
    });
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      this.log.debug(`client error from ${socket.remoteAddress ?? '?'}: ${err.code ?? err.message}`);
      if (socket.writable && !socket.destroyed) {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      } else socket.destroy();
    });
  }

  /** Listens on `host:port` (port 0: any free port); resolves with the address bound. */
  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /**
   * Stops: no new connections, idle ones closed, answers under way given `graceMs` to finish,
   * then every connection cut. Resolves once the server is closed.
   */
  async close(graceMs = 5_000): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    const timer = setTimeout(() => this.http.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    this.metrics.inFlight++;
    const raw = req.url ?? '/';
    // Parsed against a fixed origin; a path starting with '//' stays a path.
    const url = new URL(`http://keyserver${raw.startsWith('/') ? raw : `/${raw}`}`);
    const path = url.pathname;
    const route = routeOf(path);
    const client = clientOf(req, this.opts.trustProxy ?? false);
    res.on('close', () => {
      this.metrics.inFlight--;
      this.metrics.request(route, res.statusCode, (performance.now() - started) / 1000);
      if (this.logRequests) this.log.debug(`${client} ${req.method} ${raw.length > 300 ? `${raw.slice(0, 300)}...` : raw} ${res.statusCode}${res.writableFinished ? '' : ' (cut)'}`);
    });
    if (this.closing) res.setHeader('connection', 'close');
    try {
      await this.route(req, res, url, route, client);
    } catch (err) {
      try {
        this.fail(req, res, err, route);
      } catch (again) {
        // The answer cannot be written (the client went away meanwhile): drop the connection.
        this.log.debug(`cannot answer ${req.method} ${path}: ${errorMessage(again)}`);
        res.destroy();
      }
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown, route: string): void {
    const status = statusFor(err);
    const message = status === 500 ? 'internal error' : err instanceof MsError ? err.message : errorMessage(err);
    if (status === 500) this.log.error(`internal error answering ${req.method} ${req.url}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    else if (status === 503) this.log.error(`store unavailable: ${errorMessage(err)}`);
    else this.log.verbose(`${req.method} ${route}: ${status} ${errorMessage(err)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string | number> = {};
    const retryAfter = err instanceof MsError ? err.data.retryAfter : undefined;
    if (status === 429 && typeof retryAfter === 'number') headers['retry-after'] = retryAfter;
    if (status === 429) this.metrics.rateLimited++;
    if (status === 413) headers.connection = 'close';
    const code = err instanceof MsError && status !== 500 ? err.code : 'MS_HKP_INTERNAL';
    // POST and v2 errors are JSON (the HKP draft, Hagrid); GET errors one line of text.
    if (req.method === 'POST' || route === '/pks/v2') sendJson(res, status, route === '/vks/v1' ? { error: message } : { error: { code, message } }, headers);
    else sendText(res, status, `${message}\n`, headers);
  }

  private limit(limiter: RateLimiter | undefined, client: string): void {
    const wait = limiter?.take(client) ?? 0;
    if (wait > 0) throw rateLimited(wait);
  }

  /** An upload's turn: from the cluster's shared buckets when there is one, else this process's. */
  private async limitUpload(client: string): Promise<void> {
    if (!this.opts.cluster || !this.uploads) return this.limit(this.uploads, client);
    const wait = await this.opts.cluster.takeUpload(client);
    if (wait > 0) throw rateLimited(wait);
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, route: string, client: string): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const read = method === 'GET' || method === 'HEAD';
    if (method === 'OPTIONS' && isApi(route)) return this.options(res, path);
    switch (route) {
      case '/pks/lookup':
        if (!read) throw badQuery(`${method} is not allowed on ${path}`);
        this.limit(this.reads, client);
        if (this.webPages && this.toWebSearch(req, res, url)) return;
        return lookup(this.ctx, res, url);
      case '/pks/add':
        if (method !== 'POST') throw badQuery('use POST to add keys');
        return this.add(req, client, (report) => {
          if (url.searchParams.get('options')?.includes('mr') || (req.headers.accept ?? '').includes('application/json')) sendJson(res, 200, report);
          else sendText(res, 200, reportText(report));
        });
      case '/pks/hashquery': {
        if (method !== 'POST') throw badQuery('use POST for hashquery');
        // A read (recon peers fetch what they lack, up to 10,000 hashes at a time), not an upload:
        // the lookup bucket, as /pks/lookup. The upload bucket made SKS peers wait on 429s.
        this.limit(this.reads, client);
        const body = await readBody(req, this.maxBody);
        return hashquery(this.ctx, res, parseHashquery(body, 10_000), 256 * 1024 * 1024);
      }
      case '/pks/health':
        return this.health(res);
      case '/metrics':
        return this.metricsPage(res);
      case '/pks/v2':
        if (method === 'POST' && path === '/pks/v2/certs') return this.add(req, client, (report) => sendJson(res, 200, report));
        if (!read) throw badQuery(`${method} is not allowed on ${path}`);
        this.limit(this.reads, client);
        return v2(this.ctx, res, path);
      case '/vks/v1':
        if (method === 'POST' && path === '/vks/v1/upload') {
          await this.limitUpload(client);
          const keytext = vksKeytext(await readBody(req, this.maxBody));
          const report = await this.submit(keytext, client);
          return sendJson(res, 200, vksUploadAnswer(report));
        }
        if (!read) throw badQuery(`${method} is not allowed on ${path}`);
        this.limit(this.reads, client);
        return vks(this.ctx, res, path);
      case '/.well-known/openpgpkey':
        if (!read) throw badQuery(`${method} is not allowed on ${path}`);
        return this.wkd(req, res, url);
      default:
        return this.web(req, res, url);
    }
  }

  /**
   * A browser following an old SKS link (`op=index` or `vindex` without `options=mr`, asking
   * for HTML) is sent to the search page; programs (GnuPG asks with `mr`) never are.
   */
  private toWebSearch(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    // Programs do not ask for HTML: the header is checked first, the query only for browsers.
    if (!(req.headers.accept ?? '').includes('text/html')) return false;
    const p = url.searchParams;
    const op = (p.get('op') ?? '').toLowerCase();
    const search = p.get('search') ?? '';
    if ((op !== 'index' && op !== 'vindex') || (p.get('options') ?? '').toLowerCase().split(',').includes('mr')) return false;
    if (search.trim() === '') return false;
    head(res, 303, { location: `/search?q=${encodeURIComponent(search.trim())}`, 'content-length': 0 });
    res.end();
    return true;
  }

  private options(res: ServerResponse, path: string): void {
    const m = /^\/pks\/v2\/([^/]+)/.exec(path);
    const offered = m ? V2_CATEGORIES[m[1]] : true;
    const post = path === '/pks/add' || path === '/pks/hashquery' || path === '/vks/v1/upload' || path === '/pks/v2/certs';
    const allow = post ? 'POST, OPTIONS' : 'GET, HEAD, OPTIONS';
    head(res, offered ? 200 : 501, {
      allow,
      'access-control-allow-methods': allow,
      'access-control-allow-headers': 'Content-Type',
      'access-control-max-age': 86400,
      ...(post ? { accept: 'application/x-www-form-urlencoded' } : {}),
      'content-length': 0,
    });
    res.end();
  }

  private async submit(input: Buffer, client: string): Promise<SubmitReport> {
    const report = await this.opts.ks.submit(input, { now: this.ctx.now(), client });
    for (const c of report.certs) this.metrics.upload(c.status);
    this.log.verbose(`upload from ${client}: ${report.certs.map((c) => `${c.status} ${c.fpr}`).join(', ') || 'nothing'}`);
    const all = (status: string) => report.certs.length > 0 && report.certs.every((c) => c.status === status);
    // Every certificate over its update window: the answer holds until the first has room again.
    if (all('rate-limited')) throw rateLimited(Math.min(...report.certs.map((c) => c.retryAfter ?? 60)));
    if (all('rejected')) throw nothingUsable(report.certs.map((c) => c.fpr));
    return report;
  }

  private async add(req: IncomingMessage, client: string, answer: (r: SubmitReport) => void): Promise<void> {
    await this.limitUpload(client);
    const body = await readBody(req, this.maxBody);
    answer(await this.submit(uploadText(req, body), client));
  }

  private async health(res: ServerResponse): Promise<void> {
    try {
      await this.ctx.ks.store.changes.latest();
      sendJson(res, 200, { status: 'ok' }, { 'cache-control': 'no-cache' });
    } catch (err) {
      this.log.error(`health check: the store does not answer: ${errorMessage(err)}`);
      sendJson(res, 503, { status: 'unavailable' }, { 'cache-control': 'no-cache' });
    }
  }

  private async metricsPage(res: ServerResponse): Promise<void> {
    let count: number | undefined;
    const at = performance.now();
    // Counting is a scan on PostgreSQL: at most every 30 s.
    if (this.countCache && at - this.countCache.at < 30_000) count = this.countCache.value;
    else {
      try {
        count = await this.ctx.ks.store.certs.count();
        this.countCache = { at, value: count };
      } catch (err) {
        this.log.error(`metrics: the store does not answer: ${errorMessage(err)}`);
      }
    }
    let extra = '';
    try {
      extra = (await this.opts.status?.metrics()) ?? '';
    } catch (err) {
      this.log.error(`metrics: ${errorMessage(err)}`);
    }
    let metrics = this.metrics;
    if (this.opts.cluster) {
      try {
        metrics = Metrics.sum(await this.opts.cluster.allMetrics());
      } catch (err) {
        this.log.error(`metrics: the other workers did not answer: ${errorMessage(err)}`);
      }
    }
    sendBytes(res, 200, Buffer.from(metrics.format(count, this.ctx.version) + extra), 'text/plain; version=0.0.4; charset=utf-8');
  }

  private async wkd(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const ask = parseWkdPath(url.pathname, req.headers.host);
    if (!ask) throw notFound('no such WKD path');
    const domains = this.opts.wkdDomains;
    if (domains && !domains.some((d) => d.toLowerCase() === ask.domain)) throw notFound(`no Web Key Directory for ${ask.domain}`);
    if (ask.kind === 'policy') return sendText(res, 200, '', { 'cache-control': 'no-cache' });
    if (ask.kind === 'submission-address') throw notFound('no submission address: upload through /pks/add');
    const hu = ask.hu as string;
    const local = url.searchParams.get('l');
    if (local !== null && wkdHash(local) !== hu) throw notFound('the l= parameter does not match the hash');
    const limit = 1000;
    // With l= the address is known: a keyed lookup. Without it only the hash is, so the domain's addresses are searched.
    const store = this.ctx.ks.store;
    const candidates = local !== null ? await store.certs.byAddress(`${local}@${ask.domain}`, limit) : await store.search.searchUserIds(`@${ask.domain}`, limit);
    const parts: Buffer[] = [];
    for (const c of candidates) {
      if (c.fpr.length !== 40 && c.fpr.length !== 64) continue;
      if (!c.cert.users.some((u) => u.kind === 'userid' && userIdMatches(u.text, ask.domain, hu))) continue;
      parts.push(onlyUserIds(c.cert, (text) => userIdMatches(text, ask.domain, hu)));
    }
    if (parts.length === 0) throw notFound('no key for this address');
    sendBytes(res, 200, Buffer.concat(parts), 'application/octet-stream', { 'cache-control': 'no-cache' });
  }

  private async web(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (this.webPages && (await this.webPages(req, res, url))) return;
    if (url.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      return sendText(
        res,
        200,
        `monkeysphere-keyserver ${this.ctx.version}\n\nHKP: /pks/lookup?op=get|index|vindex&search=...&options=mr, POST /pks/add\nHKP v2: /pks/v2/certs/by-vfingerprint|by-keyid|by-identity/<id>, /pks/v2/index/<id>\nVKS: /vks/v1/by-fingerprint|by-keyid|by-email/<id>, POST /vks/v1/upload\nWKD: /.well-known/openpgpkey/hu/<hash>\nHealth: /pks/health; metrics: /metrics\n`,
      );
    }
    throw notFound('not found');
  }
}
