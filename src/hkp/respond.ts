/**
 * Reading requests and writing answers: the body read under a cap (refused as soon as the cap
 * is passed, the rest drained and dropped), the client's address, and answers with the headers
 * every answer carries (CORS for browser clients, as SKS 1.1.5 and the HKP draft §7.1 ask).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badQuery, bodyTooLarge } from './errors.js';

/** Headers on every answer. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'x-content-type-options': 'nosniff',
};

/** Most bytes drained (read and dropped) after a body passed the cap, before the connection is cut. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * The request body, at most `limit` bytes.
 * @throws InputError (MS_HKP_TOO_LARGE) as soon as the declared or the received length passes `limit`;
 *   the rest of the body is then read and dropped (up to 64 MiB), so the client sees the 413.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const refuse = () => {
      req.removeAllListeners('data');
      req.removeAllListeners('end');
      let drained = 0;
      req.on('data', (c: Buffer) => {
        drained += c.length;
        if (drained > DRAIN_LIMIT) req.socket.destroy();
      });
      req.on('error', () => {});
      req.resume();
      reject(bodyTooLarge(limit));
    };
    if (Number.isFinite(declared) && declared > limit) return refuse();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        chunks.length = 0;
        refuse();
      } else chunks.push(c);
    });
    let ended = false;
    req.on('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
    // A client that hangs up mid-body: nothing more will come, and nobody reads the answer.
    req.on('close', () => {
      if (!ended) reject(badQuery('the request body was cut short'));
    });
  });
}

/** The client's address: the socket's peer, or with `trustProxy` the last X-Forwarded-For entry (the one our proxy added). */
export function clientOf(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const last = (Array.isArray(xff) ? xff.join(',') : (xff ?? '')).split(',').pop()?.trim();
    if (last) return last;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/** Header names and values of an answer. */
export type Headers = Record<string, string | number>;

/**
 * Starts an answer with the common headers, then each group of `headers` in turn (a later one
 * overrides an earlier). Object.assign, not spread: V8 spent 4 µs on each `{ ...a, ...b }` of
 * these, a tenth of a whole lookup (BENCHMARKS.md §8).
 */
export function head(res: ServerResponse, status: number, ...headers: Array<Headers | undefined>): void {
  res.writeHead(status, Object.assign({}, COMMON_HEADERS, ...headers));
}

export function sendText(res: ServerResponse, status: number, text: string, headers?: Headers): void {
  const body = Buffer.from(text, 'utf8');
  head(res, status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length }, headers);
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers?: Headers): void {
  const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');
  head(res, status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length }, headers);
  res.end(body);
}

export function sendBytes(res: ServerResponse, status: number, body: Buffer, type: string, headers?: Headers): void {
  head(res, status, { 'content-type': type, 'content-length': body.length }, headers);
  res.end(body);
}
