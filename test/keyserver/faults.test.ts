/**
 * Failover and limits: dead, hanging, failing, lying and flooding servers in front of
 * a real SKS. Every failure must end with the right error, never a hang; memory is
 * bounded by the response cap (checked by how much the flooding server could send).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { InputError, type MsError, NotFoundError, TemporaryError } from '../../src/errors.js';
import { type KeyserverEvent, KeyserverClient, type KeyserverClientOptions } from '../../src/keyserver/client.js';
import { armor } from '../../src/openpgp/armor.js';
import { writeCert, writeCerts } from '../../src/openpgp/cert.js';
import { freePort, SksServer } from '../helpers/sks.js';
import { makeKey } from './keys.js';

type Handler = (req: IncomingMessage, res: ServerResponse, fault: FaultServer) => void;

/** A node:http stand-in for a misbehaving keyserver; its behaviour is swapped per test. */
class FaultServer {
  handler: Handler = (_req, res) => res.writeHead(404).end();
  requests: string[] = [];
  /** Body bytes handed to the socket by stream(). */
  sent = 0;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<FaultServer> {
    let self: FaultServer | undefined;
    const server = createServer((req, res) => {
      self!.requests.push(`${req.method} ${req.url}`);
      self!.handler(req, res, self!);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new FaultServer(server, (server.address() as AddressInfo).port);
    return self;
  }

  get url(): string {
    return `hkp://127.0.0.1:${this.port}`;
  }

  reset(handler: Handler): void {
    this.handler = handler;
    this.requests = [];
    this.sent = 0;
  }

  /** Streams `total` bytes (Infinity: forever) as fast as the client reads, until it goes away. */
  stream(res: ServerResponse, total: number): void {
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const pump = () => {
      while (!res.destroyed && this.sent < total) {
        this.sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

function isError(cls: new (...args: never[]) => MsError, code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal((e as MsError).code, code);
    return true;
  };
}

describe('failover and limits', () => {
  let sks: SksServer;
  let fault: FaultServer;
  let fault2: FaultServer;
  let closedPort: number;
  const alice = makeKey(['Alice <alice@example.org>']);
  const mallory = makeKey(['Mallory <mallory@example.org>']);

  const client = (servers: string[], opts: Partial<KeyserverClientOptions> = {}) => new KeyserverClient({ servers, timeoutMs: 2000, ...opts });
  const closed = () => `hkp://127.0.0.1:${closedPort}`;

  before(async () => {
    sks = await SksServer.start();
    fault = await FaultServer.start();
    fault2 = await FaultServer.start();
    closedPort = await freePort();
    await client([sks.url]).send([alice.cert]);
  });
  after(async () => {
    await fault?.stop();
    await fault2?.stop();
    await sks?.stop();
  });

  test('a closed port first: the next server answers', async () => {
    const events: KeyserverEvent[] = [];
    const r = await client([closed(), sks.url], { onEvent: (e) => events.push(e) }).getByFingerprint(alice.primary.fpr);
    assert.equal(r.server, sks.url);
    assert.equal(r.certs[0].primary.fpr, alice.primary.fpr);
    assert.equal(r.failures.length, 1);
    assert.equal(r.failures[0].server, closed());
    assert.ok(r.failures[0].error instanceof TemporaryError);
    assert.equal(r.failures[0].error.code, 'MS_KEYSERVER_UNREACHABLE');
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.server}`),
      [`request ${closed()}`, `failover ${closed()}`, `request ${sks.url}`, `answer ${sks.url}`],
    );
  });

  test('a server that never answers: timeout, then the next server', async () => {
    fault.reset(() => undefined);
    const r = await client([fault.url, sks.url], { timeoutMs: 500 }).getByFingerprint(alice.primary.fpr);
    assert.equal(r.server, sks.url);
    assert.equal(r.failures[0].error.code, 'MS_KEYSERVER_TIMEOUT');
    assert.deepEqual(fault.requests, [`GET /pks/lookup?op=get&options=mr&search=0x${alice.primary.fpr}`]);
  });

  test('a server that starts a reply and stalls: the timeout covers the body', async () => {
    fault.reset((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/pgp-keys' });
      res.write('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n');
    });
    await assert.rejects(client([fault.url], { timeoutMs: 500 }).getByFingerprint(alice.primary.fpr), isError(TemporaryError, 'MS_KEYSERVER_TIMEOUT'));
  });

  test('HTTP 500 and 503: the next server answers', async () => {
    for (const status of [500, 503]) {
      fault.reset((_req, res) => res.writeHead(status).end('Internal error'));
      const r = await client([fault.url, sks.url]).searchExact('Alice <alice@example.org>');
      assert.deepEqual(r.certs.map((c) => c.primary.fpr), [alice.primary.fpr]);
      assert.equal(r.server, sks.url);
      assert.equal(r.failures[0].error.code, 'MS_KEYSERVER_SERVER_ERROR');
      assert.match(r.failures[0].error.message, new RegExp(`HTTP ${status} \\(Internal error\\)`));
    }
  });

  test('a 404 is an answer: the next server is not asked', async () => {
    fault.reset((_req, res) => res.writeHead(404).end('Not found'));
    const events: KeyserverEvent[] = [];
    await assert.rejects(
      client([fault.url, sks.url], { onEvent: (e) => events.push(e) }).getByFingerprint(alice.primary.fpr),
      (e: unknown) => e instanceof NotFoundError && e.data.server === fault.url,
    );
    assert.ok(!events.some((e) => e.server === sks.url));
  });

  test('an endless body is cut off at the size cap', async () => {
    fault.reset((_req, res, f) => {
      res.writeHead(200, { 'content-type': 'application/pgp-keys' });
      f.stream(res, Number.POSITIVE_INFINITY);
    });
    const max = 1024 * 1024;
    await assert.rejects(client([fault.url], { maxResponseBytes: max, timeoutMs: 60_000 }).getByFingerprint(alice.primary.fpr), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.code, 'MS_KEYSERVER_TOO_LARGE');
      assert.equal(e.data.maxBytes, max);
      return true;
    });
    // The client stopped reading: only socket buffers' worth beyond the cap was ever sent.
    assert.ok(fault.sent < 32 * max, `server sent ${fault.sent} bytes`);

    // Behind it, a sane server still answers.
    const r = await client([fault.url, sks.url], { maxResponseBytes: max, timeoutMs: 60_000 }).getByFingerprint(alice.primary.fpr);
    assert.equal(r.server, sks.url);
    assert.equal(r.failures[0].error.code, 'MS_KEYSERVER_TOO_LARGE');
  });

  test('a 100 MB body against the default 16 MiB cap, with and without Content-Length', async () => {
    const hundredMb = 100 * 1024 * 1024;
    for (const declare of [true, false]) {
      fault.reset((_req, res, f) => {
        res.writeHead(200, declare ? { 'content-length': String(hundredMb) } : {});
        f.stream(res, hundredMb);
      });
      await assert.rejects(client([fault.url], { timeoutMs: 60_000 }).getByFingerprint(alice.primary.fpr), isError(InputError, 'MS_KEYSERVER_TOO_LARGE'));
      assert.ok(fault.sent < hundredMb / 2, `server sent ${fault.sent} bytes`);
    }
  });

  test('an HTML index is rejected; another server is then asked', async () => {
    fault.reset((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body><pre>pub:0000</pre></body></html>'));
    await assert.rejects(client([fault.url]).searchExact('Alice <alice@example.org>'), isError(InputError, 'MS_KEYSERVER_HTML_INDEX'));
    const r = await client([fault.url, sks.url]).searchExact('Alice <alice@example.org>');
    assert.equal(r.server, sks.url);
    assert.deepEqual(r.certs.map((c) => c.primary.fpr), [alice.primary.fpr]);
  });

  test('garbage keytext: problems are reported and the next server is asked', async () => {
    fault.reset((_req, res) => res.writeHead(200).end('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!not base64!!!\n-----END PGP PUBLIC KEY BLOCK-----\n'));
    await assert.rejects(client([fault.url]).getByFingerprint(alice.primary.fpr), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.code, 'MS_KEYSERVER_BAD_RESPONSE');
      assert.equal((e.data.problems as MsError[])[0].code, 'MS_ARMOR_MALFORMED');
      return true;
    });
    const r = await client([fault.url, sks.url]).getByFingerprint(alice.primary.fpr);
    assert.equal(r.server, sks.url);
    assert.equal(r.failures[0].error.code, 'MS_KEYSERVER_BAD_RESPONSE');

    // Readable certificates next to a broken packet: the certificates are kept, the packet reported.
    const brokenKey = Buffer.from([0xc6, 0x03, 4, 0, 0]);
    fault.reset((_req, res) => res.writeHead(200).end(armor('PUBLIC KEY BLOCK', Buffer.concat([writeCert(alice.cert), brokenKey]))));
    const partial = await client([fault.url]).getByFingerprint(alice.primary.fpr);
    assert.equal(partial.certs.length, 1);
    assert.equal(partial.problems.length, 1);
    assert.ok(partial.problems[0] instanceof InputError);
  });

  test('certificates that were not asked for are dropped', async () => {
    fault.reset((_req, res) => res.writeHead(200).end(armor('PUBLIC KEY BLOCK', writeCert(mallory.cert))));
    await assert.rejects(client([fault.url]).getByFingerprint(alice.primary.fpr), isError(InputError, 'MS_KEYSERVER_BAD_RESPONSE'));
    fault.reset((_req, res) => res.writeHead(200).end(armor('PUBLIC KEY BLOCK', writeCerts([mallory.cert, alice.cert, alice.cert]))));
    const r = await client([fault.url]).getByKeyId(alice.primary.keyId);
    assert.deepEqual(r.certs.map((c) => c.primary.fpr), [alice.primary.fpr]);
    assert.deepEqual(r.problems.map((p) => p.code), ['MS_KEYSERVER_UNREQUESTED']);
  });

  test('an index that lies about user IDs: fetched certificates without the user ID are dropped', async () => {
    fault.reset((req, res) => {
      if (req.url?.includes('op=index')) {
        res.writeHead(200).end(`info:1:1\npub:${mallory.primary.fpr}:22:256:0::\nuid:Alice <alice@example.org>:0::\n`);
      } else res.writeHead(200).end(armor('PUBLIC KEY BLOCK', writeCert(mallory.cert)));
    });
    const r = await client([fault.url]).searchExact('Alice <alice@example.org>');
    assert.equal(r.matches.length, 1);
    assert.deepEqual(r.certs, []);
    assert.deepEqual(r.problems.map((p) => p.code), ['MS_KEYSERVER_UID_MISSING']);
  });

  test('an index naming keys by long or short key ID: each is fetched by that ID', async () => {
    for (const id of [alice.primary.keyId, alice.primary.keyId.slice(8)]) {
      fault.reset((req, res) => {
        if (req.url?.includes('op=index')) res.writeHead(200).end(`pub:${id}:22:256:0::\nuid:Alice <alice@example.org>:0::\n`);
        else res.writeHead(200).end(armor('PUBLIC KEY BLOCK', writeCerts([mallory.cert, alice.cert])));
      });
      const r = await client([fault.url]).searchExact('Alice <alice@example.org>');
      assert.deepEqual(r.certs.map((c) => c.primary.fpr), [alice.primary.fpr]);
      assert.deepEqual(fault.requests[1], `GET /pks/lookup?op=get&options=mr&search=0x${id}`);
      assert.deepEqual(r.problems.map((p) => p.code), ['MS_KEYSERVER_UNREQUESTED']);
    }
  });

  test('every server failing: one temporary error listing each', async () => {
    fault.reset((_req, res) => res.writeHead(502).end());
    const err = await client([closed(), fault.url]).getByFingerprint(alice.primary.fpr).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TemporaryError);
    assert.equal(err.code, 'MS_KEYSERVER_UNAVAILABLE');
    const failures = err.data.failures as { server: string; error: MsError }[];
    assert.deepEqual(failures.map((f) => [f.server, f.error.code]), [
      [closed(), 'MS_KEYSERVER_UNREACHABLE'],
      [fault.url, 'MS_KEYSERVER_SERVER_ERROR'],
    ]);
    // With one server, its own error comes through.
    await assert.rejects(client([closed()]).getByFingerprint(alice.primary.fpr), isError(TemporaryError, 'MS_KEYSERVER_UNREACHABLE'));
    // A failure that is not temporary wins over temporary ones.
    fault2.reset((_req, res) => res.writeHead(400).end('bad request'));
    await assert.rejects(client([closed(), fault2.url]).getByFingerprint(alice.primary.fpr), isError(InputError, 'MS_KEYSERVER_REJECTED'));
  });

  test('the total deadline ends an operation across hanging servers', async () => {
    fault.reset(() => undefined);
    fault2.reset(() => undefined);
    await assert.rejects(
      client([fault.url, fault2.url, sks.url], { timeoutMs: 60_000, deadlineMs: 300 }).getByFingerprint(alice.primary.fpr),
      isError(TemporaryError, 'MS_KEYSERVER_DEADLINE'),
    );
    assert.equal(fault2.requests.length, 0);
  });

  test('a caller abort ends an operation', async () => {
    fault.reset(() => undefined);
    const ctrl = new AbortController();
    const pending = client([fault.url], { timeoutMs: 60_000 }).getByFingerprint(alice.primary.fpr, { signal: ctrl.signal });
    setTimeout(() => ctrl.abort(), 50);
    await assert.rejects(pending, isError(TemporaryError, 'MS_KEYSERVER_ABORTED'));
  });

  test('refresh with failing servers returns the input unchanged and lists the failures', async () => {
    fault.reset((_req, res) => res.writeHead(500).end());
    const r = await client([fault.url]).refresh([alice.cert, mallory.cert]);
    assert.deepEqual(r.certs, [alice.cert, mallory.cert]);
    assert.deepEqual(r.failed.map((f) => [f.fpr, f.error.code]), [
      [alice.primary.fpr, 'MS_KEYSERVER_SERVER_ERROR'],
      [mallory.primary.fpr, 'MS_KEYSERVER_SERVER_ERROR'],
    ]);
    fault.reset(() => undefined);
    const late = await client([fault.url], { timeoutMs: 60_000, deadlineMs: 200, concurrency: 1 }).refresh([alice.cert, mallory.cert]);
    assert.deepEqual(late.certs, [alice.cert, mallory.cert]);
    assert.deepEqual(late.failed.map((f) => f.error.code), ['MS_KEYSERVER_DEADLINE', 'MS_KEYSERVER_DEADLINE']);
  });

  test('redirects: followed to the real server; at most two; never from https to http', async () => {
    fault.reset((req, res) => res.writeHead(302, { location: `http://127.0.0.1:${sks.port}${req.url}` }).end());
    const r = await client([fault.url]).getByFingerprint(alice.primary.fpr);
    assert.equal(r.certs[0].primary.fpr, alice.primary.fpr);

    fault.reset((req, res) => res.writeHead(302, { location: req.url }).end());
    await assert.rejects(client([fault.url]).getByFingerprint(alice.primary.fpr), isError(InputError, 'MS_KEYSERVER_REDIRECT'));
    assert.equal(fault.requests.length, 3);

    const downgrade: typeof fetch = async (input) => {
      assert.ok(String(input).startsWith('https://keys.example.org/'));
      return new Response(null, { status: 301, headers: { location: `http://127.0.0.1:${sks.port}/pks/lookup` } });
    };
    await assert.rejects(
      client(['hkps://keys.example.org'], { fetch: downgrade }).getByFingerprint(alice.primary.fpr),
      isError(InputError, 'MS_KEYSERVER_REDIRECT'),
    );
  });

  test('upload failover: a refusing server, then SKS', async () => {
    fault.reset((_req, res) => res.writeHead(503).end());
    const bob = makeKey(['Bob <bob@example.org>']);
    const sent = await client([fault.url, sks.url]).send([bob.cert]);
    assert.equal(sent.server, sks.url);
    assert.deepEqual(fault.requests, ['POST /pks/add']);
    assert.equal((await client([sks.url]).getByFingerprint(bob.primary.fpr)).certs.length, 1);
  });
});
