/**
 * One bounded HTTP exchange for the keyserver client: a per-request timeout
 * that covers the body too, a size cap enforced while streaming, and at most a few
 * redirects, never from https to http. It returns every status; callers decide.
 */
import { InputError, MsError, TemporaryError } from '../errors.js';

export type FetchFn = typeof fetch;

export interface HttpLimits {
  /** Milliseconds for the whole exchange: connect, headers and body. */
  timeoutMs: number;
  /** Largest body accepted, in bytes; beyond it the transfer is aborted. */
  maxBytes: number;
  /** Redirects followed for GET (GnuPG follows at most 2). */
  maxRedirects?: number;
  /** Aborts the exchange from outside (a total deadline); its reason is thrown when it is an MsError. */
  signal?: AbortSignal;
  fetch?: FetchFn;
  /** Error code prefix, e.g. `MS_KEYSERVER`. */
  codePrefix: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  /** The URL that answered, after redirects. */
  url: string;
  contentType: string;
  body: Buffer;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: string; message?: string } | undefined;
  if (cause && typeof cause === 'object') return cause.code ? `${cause.code}${cause.message ? `: ${cause.message}` : ''}` : (cause.message ?? err.message);
  return err.message;
}

/**
 * Performs one request within `limits`.
 * @throws TemporaryError (<prefix>_UNREACHABLE) when no HTTP answer came (refused, DNS, reset);
 *   TemporaryError (<prefix>_TIMEOUT) when `timeoutMs` passed; InputError (<prefix>_TOO_LARGE)
 *   when the body exceeds `maxBytes`; InputError (<prefix>_REDIRECT) for a redirect loop or a
 *   downgrade to http; the outer signal's reason when it aborted.
 */
export async function boundedRequest(req: HttpRequest, limits: HttpLimits): Promise<HttpResponse> {
  const doFetch = limits.fetch ?? fetch;
  const maxRedirects = limits.maxRedirects ?? 2;
  const p = limits.codePrefix;
  const timeoutError = new TemporaryError(`${p}_TIMEOUT`, `no complete answer from ${new URL(req.url).origin} within ${limits.timeoutMs} ms`, {
    data: { url: req.url, timeoutMs: limits.timeoutMs },
  });
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(timeoutError), limits.timeoutMs);
  const signal = limits.signal ? AbortSignal.any([ctrl.signal, limits.signal]) : ctrl.signal;
  const aborted = (err: unknown): MsError => {
    if (limits.signal?.aborted) {
      const reason = limits.signal.reason;
      return reason instanceof MsError ? reason : new TemporaryError(`${p}_ABORTED`, `request to ${req.url} was aborted`, { cause: reason });
    }
    if (ctrl.signal.aborted && ctrl.signal.reason instanceof MsError) return ctrl.signal.reason;
    return new TemporaryError(`${p}_UNREACHABLE`, `cannot reach ${new URL(req.url).origin}: ${describe(err)}`, { cause: err, data: { url: req.url } });
  };

  try {
    let url = req.url;
    for (let hops = 0; ; hops++) {
      let res: Response;
      try {
        res = await doFetch(url, { method: req.method, headers: req.headers, body: req.body, redirect: 'manual', signal });
      } catch (err) {
        throw aborted(err);
      }
      const location = res.headers.get('location');
      if (req.method === 'GET' && REDIRECTS.has(res.status) && location !== null) {
        await res.body?.cancel().catch(() => undefined);
        const next = new URL(location, url);
        if (hops >= maxRedirects) {
          throw new InputError(`${p}_REDIRECT`, `too many redirects from ${req.url} (more than ${maxRedirects})`, { data: { url: req.url } });
        }
        if (new URL(url).protocol === 'https:' && next.protocol !== 'https:') {
          throw new InputError(`${p}_REDIRECT`, `refusing redirect from ${url} to ${next.href}: it leaves https`, { data: { url, location: next.href } });
        }
        url = next.href;
        continue;
      }
      const body = await readBounded(res, url, limits.maxBytes, ctrl, aborted, p);
      return { status: res.status, url, contentType: res.headers.get('content-type') ?? '', body };
    }
  } finally {
    clearTimeout(timer);
  }
}

async function readBounded(
  res: Response,
  url: string,
  maxBytes: number,
  ctrl: AbortController,
  aborted: (err: unknown) => MsError,
  p: string,
): Promise<Buffer> {
  const tooLarge = (seen: number) =>
    new InputError(`${p}_TOO_LARGE`, `response from ${new URL(url).origin} exceeds ${maxBytes} bytes`, {
      data: { url, maxBytes, seen },
      hints: ['a flooded certificate can be this large; raise the limit only for a server you trust'],
    });
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    const err = tooLarge(declared);
    ctrl.abort(err);
    await res.body?.cancel().catch(() => undefined);
    throw err;
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        const err = tooLarge(total);
        ctrl.abort(err);
        await reader.cancel(err).catch(() => undefined);
        throw err;
      }
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  } catch (err) {
    if (err instanceof MsError && err.code === `${p}_TOO_LARGE`) throw err;
    throw aborted(err);
  } finally {
    reader.releaseLock();
  }
  return Buffer.concat(chunks, total);
}
