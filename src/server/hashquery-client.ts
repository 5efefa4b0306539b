/**
 * The client side of SKS's `POST /pks/hashquery` (the format: src/keyserver/hashquery.ts), how
 * recon fetches what a session found missing. The answer is read under
 * caps (bytes in all, bytes per certificate, count) and a deadline, so a peer can neither
 * exhaust memory nor stall the gossip loop.
 */
import { request } from 'node:http';
import { InputError, TemporaryError } from '../errors.js';
import { encodeHashqueryRequest, parseHashqueryAnswer } from '../keyserver/hashquery.js';

export interface HashqueryOptions {
  /** Most bytes of answer read (default 64 MiB). Past it the fetch fails: ask for fewer. */
  maxBytes?: number;
  /** Largest certificate taken (default 16 MiB). */
  maxCertBytes?: number;
  /** The whole request ends by then, ms (default 60 s). */
  timeoutMs?: number;
  /** Local address to connect from (our recon address). */
  localAddress?: string;
}

/** The default cap of one hashquery answer, bytes. */
export const DEFAULT_HASHQUERY_MAX_BYTES = 64 * 1024 * 1024;

function malformed(what: string, data: Record<string, unknown> = {}): InputError {
  return new InputError('MS_RECON_HASHQUERY', `malformed hashquery answer: ${what}`, { data });
}

/**
 * Asks `http://host:port/pks/hashquery` for these digests.
 * @throws TemporaryError MS_RECON_FETCH (connection failed, non-200 status, timeout, over the
 *   byte cap); InputError MS_RECON_HASHQUERY (an answer that does not parse).
 */
export function fetchByHashes(host: string, port: number, digests: readonly Buffer[], opts: HashqueryOptions = {}): Promise<Buffer[]> {
  const maxBytes = opts.maxBytes ?? DEFAULT_HASHQUERY_MAX_BYTES;
  const maxCert = opts.maxCertBytes ?? 16 * 1024 * 1024;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const body = encodeHashqueryRequest(digests);
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const fail = (what: string, cause?: unknown) => new TemporaryError('MS_RECON_FETCH', `hashquery to ${where}: ${what}`, { cause, data: { host, port } });
  return new Promise<Buffer[]>((resolve, reject) => {
    let settled = false;
    const done = (err: Error | undefined, value?: Buffer[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(value ?? []);
    };
    const req = request(
      {
        host,
        port,
        method: 'POST',
        path: '/pks/hashquery',
        localAddress: opts.localAddress,
        headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, connection: 'close' },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return done(fail(`HTTP ${res.statusCode}`));
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          res.resume();
          return done(fail(`an answer of ${declared} bytes is over the limit of ${maxBytes}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) return done(fail(`the answer is over the limit of ${maxBytes} bytes`));
          chunks.push(c);
        });
        res.on('end', () => {
          try {
            done(undefined, parseHashqueryAnswer(Buffer.concat(chunks, size), digests.length, maxCert, malformed));
          } catch (err) {
            done(err as Error);
          }
        });
        res.on('error', (err) => done(fail(err.message, err)));
        res.on('aborted', () => done(fail('the answer was cut off')));
      },
    );
    const timer = setTimeout(() => done(fail(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => done(fail(err.code ?? err.message, err)));
    req.end(body);
  });
}
