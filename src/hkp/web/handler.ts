/**
 * The keyserver's web pages over HTTP: `/`, `/search`, `/key/<fingerprint>` (and `.asc`),
 * `/upload`, `/stats` and `/assets/…`. Server-rendered HTML that works without JavaScript,
 * under a strict Content-Security-Policy (no inline script or style). Other paths are left
 * to the rest of the HTTP server (HKP, VKS, WKD): the handler answers false for them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UnixTime } from '../../clock.js';
import { MsError } from '../../errors.js';
import { armor } from '../../openpgp/armor.js';
import { statusFor } from '../errors.js';
import { RefusedDigests } from '../../server/recon-refused.js';
import { readStatus } from '../../server/recon-status.js';
import { ASSETS } from './assets.js';
import type { SubmitReport, WebKeyserver } from './contract.js';
import { FormError, parseForm, readBody } from './form.js';
import { buildKeyView, buildSummaries, DEFAULT_KEY_VIEW_LIMITS, type KeyViewLimits } from './key-view.js';
import { errorPage, homePage, keyPage, resultsPage, type StatsModel, searchHref, statsPage, UPLOAD_FIELD, UPLOAD_FILE_FIELD, uploadPage, uploadReportPage } from './pages.js';
import { parseQuery, runQuery } from './query.js';

/** What the pages run on: the keyserver service, the clock, and optional bounds and hooks. */
export interface WebContext {
  ks: WebKeyserver;
  /** The reference time of each request. */
  now: () => UnixTime;
  /** Largest upload body, in bytes (default: what the keyserver's policy takes, and a little for the form around it; else 8 MiB). */
  maxUploadBytes?: number;
  /** Most certificates a search lists (default 100). */
  resultLimit?: number;
  /** Most changes the stats page lists (default 20). */
  recentChanges?: number;
  /** Bounds of the key page. */
  keyViewLimits?: Partial<KeyViewLimits>;
  /** Who a request comes from, for the keyserver's rate limits (default: the socket's address). */
  clientOf?: (req: IncomingMessage) => string | undefined;
  /**
   * Called before an upload's body is read: throws (or rejects) to refuse it (the HTTP server's
   * upload rate limit, say, as MS_HKP_RATE_LIMITED), which the page answers with the error's status.
   */
  admitUpload?: (req: IncomingMessage) => void | Promise<void>;
  /** Told of errors answered with 500 (with their stack); the page says only "internal error". */
  onError?: (err: unknown, req: IncomingMessage) => void;
}

/** Answers a request and resolves true, or resolves false for a path that is not a page's. */
export type WebHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/** No inline script or style, nothing from elsewhere, no framing, forms post only here. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

const FPR_PATH = /^\/key\/([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})(\.asc)?$/;

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(bytes.length), 'Cache-Control': 'no-cache', ...headers });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

function sendPage(req: IncomingMessage, res: ServerResponse, status: number, page: string, headers: Record<string, string> = {}): void {
  send(req, res, status, 'text/html; charset=utf-8', page, headers);
}

function redirect(req: IncomingMessage, res: ServerResponse, location: string): void {
  send(req, res, 303, 'text/plain; charset=utf-8', `see ${location}\n`, { Location: location });
}

/** Answers a method the path does not take; true when it did. */
function refuseMethod(req: IncomingMessage, res: ServerResponse, allowed: readonly string[]): boolean {
  if (allowed.includes(req.method ?? 'GET')) return false;
  sendPage(req, res, 405, errorPage('Method not allowed', `${req.method} is not used here.`), { Allow: allowed.join(', ') });
  return true;
}

const GET = ['GET', 'HEAD'] as const;
const GET_POST = ['GET', 'HEAD', 'POST'] as const;

/** Page titles by status. */
const ERROR_TITLES: Readonly<Record<number, string>> = {
  400: 'Bad request',
  404: 'Not found',
  413: 'Upload too large',
  422: 'Nothing to upload',
  429: 'Too many uploads',
  501: 'Not supported',
  503: 'Try again later',
};

/**
 * The status (src/hkp/errors.ts `statusFor`, the one mapping for the whole HTTP face) and the
 * words for an error. Only client errors say what went wrong: a store's message names paths.
 */
function errorAnswer(err: unknown): { status: number; title: string; message: string; headers?: Record<string, string> } {
  if (err instanceof FormError) return { status: err.status, title: ERROR_TITLES[err.status] ?? 'Bad request', message: err.message };
  const status = statusFor(err);
  const title = ERROR_TITLES[status] ?? 'Internal error';
  if (status === 503) return { status, title, message: 'The key store is busy or unavailable; try again in a moment.' };
  if (status >= 500 || !(err instanceof MsError)) return { status, title, message: 'internal error' };
  const retry = Number(err.data.retryAfter);
  const headers = status === 429 && Number.isFinite(retry) && retry > 0 ? { 'Retry-After': String(Math.ceil(retry)) } : undefined;
  return { status, title, message: err.message, headers };
}

/**
 * The web pages' handler: answers (and resolves true) for its paths, resolves false for any
 * other, so the HTTP server can try its other routes. Never rejects: errors become pages.
 */
export function webHandler(ctx: WebContext): WebHandler {
  const resultLimit = ctx.resultLimit ?? 100;
  // The keyserver judges the key's size; the body may be that and a form around it.
  const maxUpload = ctx.maxUploadBytes ?? (ctx.ks.policy ? ctx.ks.policy.maxUploadBytes + 64 * 1024 : 8 * 1024 * 1024);
  const recent = ctx.recentChanges ?? 20;
  const limits: KeyViewLimits = { ...DEFAULT_KEY_VIEW_LIMITS, ...ctx.keyViewLimits };
  const store = () => ctx.ks.store;

  async function search(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const input = url.searchParams.get('q') ?? '';
    const query = parseQuery(input);
    if (query.kind === 'empty') return redirect(req, res, '/');
    if (query.kind === 'invalid') return sendPage(req, res, 400, errorPage('Cannot search for that', query.reason, input));
    const now = ctx.now();
    const found = await runQuery(store(), query, resultLimit);
    // A whole primary fingerprint names one key: go to its page.
    if (query.kind === 'fingerprint' && found.certs.length === 1 && found.certs[0].fpr === query.hex) return redirect(req, res, `/key/${found.certs[0].fpr}`);
    const rows = await buildSummaries(store(), found.certs, now);
    sendPage(req, res, rows.length > 0 ? 200 : 404, resultsPage({ input, query, rows, more: found.more, limit: resultLimit }));
  }

  async function key(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const m = FPR_PATH.exec(url.pathname);
    if (!m) {
      const rest = url.pathname.slice('/key/'.length);
      if (/^(0x)?[0-9A-Fa-f]{8,64}$/.test(rest)) return redirect(req, res, searchHref(rest.startsWith('0x') ? rest : `0x${rest}`));
      return sendPage(req, res, 404, errorPage('No such key', 'Give a key by its fingerprint, or search for it.'));
    }
    const fpr = m[1].toUpperCase();
    if (m[1] !== fpr) return redirect(req, res, `/key/${fpr}${m[2] ?? ''}`);
    const stored = await store().certs.get(fpr);
    if (!stored) return sendPage(req, res, 404, errorPage('No such key', `This server has no key with fingerprint ${fpr}.`));
    if (m[2]) {
      return send(req, res, 200, 'application/pgp-keys', armor('PUBLIC KEY BLOCK', stored.bytes), {
        'Content-Disposition': `attachment; filename="${fpr}.asc"`,
        // Public data: scripts on other sites may fetch it, as they may over HKP.
        'Access-Control-Allow-Origin': '*',
      });
    }
    const view = await buildKeyView(store(), stored, ctx.now(), limits);
    sendPage(req, res, 200, keyPage(view));
  }

  async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendPage(req, res, 200, uploadPage());
    await ctx.admitUpload?.(req);
    const fields = parseForm(req.headers['content-type'], await readBody(req, maxUpload));
    const parts = [fields.get(UPLOAD_FIELD)?.value, fields.get(UPLOAD_FILE_FIELD)?.value].filter((b): b is Buffer => b?.some((x) => x > 0x20) === true);
    if (parts.length === 0) throw new FormError('Paste a key or choose a key file to upload.', 400);
    // A pasted key and a file are submitted one after the other: armor and binary do not mix in one stream.
    const opts = { now: ctx.now(), client: ctx.clientOf?.(req) ?? req.socket.remoteAddress };
    const report: SubmitReport = { certs: [] };
    for (const [i, part] of parts.entries()) {
      try {
        report.certs.push(...(await ctx.ks.submit(part, opts)).certs);
      } catch (err) {
        // The pasted key went in, the file did not: say both, rather than hide what was stored.
        if (i === 0 || report.certs.length === 0) throw err;
        const answer = errorAnswer(err);
        if (answer.status === 500) ctx.onError?.(err, req);
        return sendPage(req, res, 200, uploadReportPage(report, `The key file was not taken: ${answer.message}`));
      }
    }
    sendPage(req, res, 200, uploadReportPage(report));
  }

  async function stats(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = store();
    const [count, latest] = await Promise.all([s.certs.count(), s.changes.latest()]);
    const changes = (await s.changes.since(Math.max(0, latest - recent), recent)).reverse();
    const present = new Map((await s.certs.getMany([...new Set(changes.map((c) => c.fpr))])).map((sc) => [sc.fpr, sc]));
    const refusals = new RefusedDigests(s.meta);
    const [status, refused] = await Promise.all([readStatus(s.meta), refusals.counts()]);
    const model: StatsModel = {
      count,
      latest,
      now: ctx.now(),
      recon: {
        peers: Object.entries(status).flatMap(([instance, st]) => st.peers.map((p) => ({ instance, ...p }))),
        refused,
        recent: (await refusals.list()).slice(0, recent),
      },
      changes: changes.map((c) => {
        const sc = present.get(c.fpr);
        return {
          seq: c.seq,
          fpr: c.fpr,
          at: c.at,
          kind: c.added === undefined ? 'deleted' : c.removed === undefined ? 'new' : 'updated',
          userId: sc?.cert.users.find((u) => u.kind === 'userid')?.text,
          present: sc !== undefined,
        };
      }),
    };
    sendPage(req, res, 200, statsPage(model));
  }

  function asset(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const a = ASSETS.get(url.pathname);
    if (!a) {
      send(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    // Links carry the content hash, so a linked asset never changes.
    const cache = url.searchParams.get('v') === a.href.split('?v=')[1] ? 'public, max-age=31536000, immutable' : 'public, max-age=300';
    send(req, res, 200, a.type, a.body, { 'Cache-Control': cache });
  }

  return async (req, res, url) => {
    const path = url.pathname;
    let route: ((req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void) | undefined;
    let allowed: readonly string[] = GET;
    if (path === '/') route = (q, s) => sendPage(q, s, 200, homePage());
    else if (path === '/search') route = search;
    else if (path.startsWith('/key/')) route = key;
    else if (path === '/upload') {
      route = upload;
      allowed = GET_POST;
    } else if (path === '/stats') route = stats;
    else if (path.startsWith('/assets/')) route = asset;
    if (!route) return false;
    if (refuseMethod(req, res, allowed)) return true;
    try {
      await route(req, res, url);
    } catch (err) {
      // A client that hung up mid-upload is no error of ours, and there is no one to answer.
      if (req.destroyed && !req.complete) {
        res.destroy();
        return true;
      }
      const answer = errorAnswer(err);
      if (answer.status === 500) ctx.onError?.(err, req);
      if (!res.headersSent) sendPage(req, res, answer.status, errorPage(answer.title, answer.message, path === '/search' ? (url.searchParams.get('q') ?? undefined) : undefined), answer.headers);
      else res.destroy();
    }
    return true;
  };
}
