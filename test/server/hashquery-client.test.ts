/**
 * The hashquery client recon fetches with: SKS's request and answer formats, and a peer's
 * HKP port that answers garbage, errors, too much, or nothing: each a typed error, never a hang.
 * And the byte budget the fetches in flight share (recon-recover.ts FetchBudget).
 */
import assert from 'node:assert/strict';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { InputError, MsError } from '../../src/errors.js';
import { encodeHashqueryRequest as hashqueryRequest, hashqueryAnswerParts, parseHashqueryAnswer as parse } from '../../src/keyserver/hashquery.js';
import { fetchByHashes } from '../../src/server/hashquery-client.js';
import { parseHashquery } from '../../src/hkp/v1.js';
import { FetchBudget } from '../../src/server/recon-recover.js';

function answer(certs: Buffer[], tail = Buffer.from('\r\n')): Buffer {
  const parts = hashqueryAnswerParts(certs);
  return Buffer.concat([...parts.slice(0, -1), tail]);
}

/** The client's parser, with the client's error (recon's MS_RECON_HASHQUERY). */
const parseHashqueryAnswer = (body: Buffer, maxCount: number, maxCertBytes: number) =>
  parse(body, maxCount, maxCertBytes, (what, data) => new InputError('MS_RECON_HASHQUERY', `malformed hashquery answer: ${what}`, { data }));

const code = (c: string) => (err: unknown) => err instanceof MsError && err.code === c;

describe('formats', () => {
  test('the request is what our server (and SKS) parse', () => {
    const ds = [Buffer.alloc(16, 1), Buffer.alloc(16, 2)];
    assert.deepEqual(parseHashquery(hashqueryRequest(ds), 10), ds);
  });

  test('answers with and without the CRLF', () => {
    const certs = [Buffer.from('one'), Buffer.from('second')];
    assert.deepEqual(parseHashqueryAnswer(answer(certs), 2, 100), certs);
    assert.deepEqual(parseHashqueryAnswer(answer(certs, Buffer.alloc(0)), 2, 100), certs);
  });

  test('garbage answers are typed errors', () => {
    assert.throws(() => parseHashqueryAnswer(Buffer.from([0, 0]), 2, 100), code('MS_RECON_HASHQUERY'));
    assert.throws(() => parseHashqueryAnswer(answer([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]), 2, 100), code('MS_RECON_HASHQUERY'));
    assert.throws(() => parseHashqueryAnswer(answer([Buffer.alloc(200)]), 2, 100), code('MS_RECON_HASHQUERY'));
    assert.throws(() => parseHashqueryAnswer(answer([Buffer.from('abc')]).subarray(0, 9), 2, 100), code('MS_RECON_HASHQUERY'));
    assert.throws(() => parseHashqueryAnswer(answer([Buffer.from('abc')], Buffer.from('junk')), 2, 100), code('MS_RECON_HASHQUERY'));
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(0xffffffff);
    assert.throws(() => parseHashqueryAnswer(huge, 2, 100), code('MS_RECON_HASHQUERY'));
  });
});

describe('fetchByHashes against a peer', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.closeAllConnections();
    for (const s of servers) s.close();
  });
  async function peer(handler: RequestListener): Promise<number> {
    const s = createServer(handler);
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  }
  const digests = [Buffer.alloc(16, 7)];

  test('a good answer', async () => {
    let body = Buffer.alloc(0);
    const port = await peer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        body = Buffer.concat(chunks);
        res.end(answer([Buffer.from('cert')]));
      });
    });
    assert.deepEqual(await fetchByHashes('127.0.0.1', port, digests), [Buffer.from('cert')]);
    assert.deepEqual(body, hashqueryRequest(digests));
  });

  test('an HTTP error', async () => {
    const port = await peer((_req, res) => {
      res.writeHead(500);
      res.end('no');
    });
    await assert.rejects(fetchByHashes('127.0.0.1', port, digests), code('MS_RECON_FETCH'));
  });

  test('more bytes than the cap', async () => {
    const port = await peer((_req, res) => {
      res.write(answer([Buffer.alloc(5000)]));
      res.end();
    });
    await assert.rejects(fetchByHashes('127.0.0.1', port, digests, { maxBytes: 1000 }), code('MS_RECON_FETCH'));
  });

  test('a peer that never finishes its answer', async () => {
    const port = await peer((_req, res) => {
      res.writeHead(200);
      res.write(Buffer.from([0, 0]));
    });
    await assert.rejects(fetchByHashes('127.0.0.1', port, digests, { timeoutMs: 300 }), code('MS_RECON_FETCH'));
  });

  test('nothing listening', async () => {
    const port = await peer(() => {});
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(fetchByHashes('127.0.0.1', port, digests), code('MS_RECON_FETCH'));
  });
});

describe('FetchBudget', () => {
  test('reservations past the total wait, are served in order, and a release is idempotent', async () => {
    const b = new FetchBudget(100);
    const r1 = await b.reserve(60);
    const r2 = await b.reserve(40);
    assert.equal(b.inUse, 100);
    const order: string[] = [];
    const w3 = b.reserve(50).then((r) => {
      order.push('third');
      return r;
    });
    const w4 = b.reserve(10).then((r) => {
      order.push('fourth');
      return r;
    });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, [], 'nothing is free');
    assert.equal(b.waiting, 2);
    r2();
    r2();
    await new Promise((r) => setImmediate(r));
    // 40 free: the third (50) is first in line, so the fourth (10) does not overtake it.
    assert.deepEqual(order, []);
    assert.equal(b.inUse, 60);
    r1();
    const [r3, r4] = await Promise.all([w3, w4]);
    assert.deepEqual(order, ['third', 'fourth']);
    assert.equal(b.inUse, 60);
    r3();
    r4();
    assert.equal(b.inUse, 0);
    // More than the total is capped at the total.
    const big = await b.reserve(1000);
    assert.equal(b.inUse, 100);
    big();
  });
});
