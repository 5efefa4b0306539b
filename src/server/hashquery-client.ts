/**
 * The client side of SKS's `POST /pks/hashquery`, how recon fetches what a session found
 * missing: request `int32 n`, n × (`int32 16`, MD5 digest); answer `int32 n`, n × (`int32 len`,
 * binary certificate), then CRLF (SKS 1.1.6; Hockeypuck the same). The answer is read under
 * caps (bytes in all, bytes per certificate, count) and a deadline, so a peer can neither
 * exhaust memory nor stall the gossip loop.
 */
import { request } from 'node:http';
import { InputError, TemporaryError } from '../errors.js';

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

/** The request body for these digests. */
export function hashqueryRequest(digests: readonly Buffer[]): Buffer {
  const out = Buffer.alloc(4 + digests.length * 20);
  out.writeUInt32BE(digests.length, 0);
  digests.forEach((d, i) => {
    if (d.length !== 16) throw new RangeError('an SKS digest is 16 bytes');
    out.writeUInt32BE(16, 4 + i * 20);
    d.copy(out, 8 + i * 20);
  });
  return out;
}

function malformed(what: string, data: Record<string, unknown> = {}): InputError {
  return new InputError('MS_RECON_HASHQUERY', `malformed hashquery answer: ${what}`, { data });
}

/**
 * The certificates in a hashquery answer. At most `maxCount` (more is a peer error: it was
 * asked for fewer). The trailing CRLF is optional (Hockeypuck's is there, a proxy may cut it).
 * @throws InputError MS_RECON_HASHQUERY.
 */
export function parseHashqueryAnswer(body: Buffer, maxCount: number, maxCertBytes: number): Buffer[] {
  if (body.length < 4) throw malformed(`${body.length} bytes, no count`);
  const n = body.readUInt32BE(0);
  if (n > maxCount) throw malformed(`${n} certificates where at most ${maxCount} were asked for`, { count: n });
  const out: Buffer[] = [];
  let pos = 4;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > body.length) throw malformed(`truncated at certificate ${i + 1} of ${n}`, { index: i });
    const len = body.readUInt32BE(pos);
    pos += 4;
    if (len > maxCertBytes) throw malformed(`a certificate of ${len} bytes (at most ${maxCertBytes})`, { length: len });
    if (pos + len > body.length) throw malformed(`truncated in certificate ${i + 1} of ${n}`, { index: i });
    out.push(body.subarray(pos, pos + len));
    pos += len;
  }
  const rest = body.subarray(pos);
  if (rest.length > 0 && !rest.equals(Buffer.from('\r\n'))) throw malformed(`${rest.length} bytes after the certificates`);
  return out;
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
  const body = hashqueryRequest(digests);
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
            done(undefined, parseHashqueryAnswer(Buffer.concat(chunks, size), digests.length, maxCert));
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
