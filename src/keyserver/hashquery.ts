/**
 * SKS's `POST /pks/hashquery`, both directions, the one definition of the format (the server in
 * src/hkp/v1.ts, recon's client in src/server/hashquery-client.ts): request `int32 n`, then
 * n × (`int32 16`, MD5 digest); answer `int32 n`, then n × (`int32 len`, binary certificate),
 * then CRLF (SKS 1.1.6; Hockeypuck the same). The parsers take the caller's error, since a bad
 * request is the client's fault (HTTP 400) and a bad answer the peer's.
 */

/** Makes the error a parser throws for malformed input. */
export type Malformed = (what: string, data?: Record<string, unknown>) => Error;

/** The request body for these digests. */
export function encodeHashqueryRequest(digests: readonly Buffer[]): Buffer {
  const out = Buffer.alloc(4 + digests.length * 20);
  out.writeUInt32BE(digests.length, 0);
  digests.forEach((d, i) => {
    if (d.length !== 16) throw new RangeError('an SKS digest is 16 bytes');
    out.writeUInt32BE(16, 4 + i * 20);
    d.copy(out, 8 + i * 20);
  });
  return out;
}

/** The digests a request asks for, at most `maxHashes`. */
export function parseHashqueryRequest(body: Buffer, maxHashes: number, fail: Malformed): Buffer[] {
  if (body.length < 4) throw fail('hashquery body too short');
  const n = body.readUInt32BE(0);
  if (n > maxHashes) throw fail(`hashquery asks for ${n} hashes; at most ${maxHashes}`, { count: n });
  const out: Buffer[] = [];
  let pos = 4;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > body.length) throw fail('hashquery body truncated', { index: i });
    const len = body.readUInt32BE(pos);
    pos += 4;
    if (len !== 16 || pos + len > body.length) throw fail('hashquery hash is not 16 bytes', { index: i });
    out.push(Buffer.from(body.subarray(pos, pos + len)));
    pos += len;
  }
  return out;
}

/** The answer's parts for these certificates (the count, each length and certificate, CRLF), to send as they are. */
export function hashqueryAnswerParts(certs: readonly Buffer[]): Buffer[] {
  const count = Buffer.alloc(4);
  count.writeUInt32BE(certs.length);
  const parts: Buffer[] = [count];
  for (const c of certs) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(c.length);
    parts.push(len, c);
  }
  parts.push(Buffer.from('\r\n'));
  return parts;
}

/**
 * The certificates in an answer: at most `maxCount` (more is the peer's error: it was asked for
 * fewer), each at most `maxCertBytes`. The trailing CRLF is optional (a proxy may cut it).
 */
export function parseHashqueryAnswer(body: Buffer, maxCount: number, maxCertBytes: number, fail: Malformed): Buffer[] {
  if (body.length < 4) throw fail(`${body.length} bytes, no count`);
  const n = body.readUInt32BE(0);
  if (n > maxCount) throw fail(`${n} certificates where at most ${maxCount} were asked for`, { count: n });
  const out: Buffer[] = [];
  let pos = 4;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > body.length) throw fail(`truncated at certificate ${i + 1} of ${n}`, { index: i });
    const len = body.readUInt32BE(pos);
    pos += 4;
    if (len > maxCertBytes) throw fail(`a certificate of ${len} bytes (at most ${maxCertBytes})`, { length: len });
    if (pos + len > body.length) throw fail(`truncated in certificate ${i + 1} of ${n}`, { index: i });
    out.push(body.subarray(pos, pos + len));
    pos += len;
  }
  const rest = body.subarray(pos);
  if (rest.length > 0 && !rest.equals(Buffer.from('\r\n'))) throw fail(`${rest.length} bytes after the certificates`);
  return out;
}
