import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { InputError, TemporaryError } from '../../src/errors.js';
import { parseWkdAddress, wkdLookup, wkdUrls, zbase32 } from '../../src/keyserver/wkd.js';
import { armor } from '../../src/openpgp/armor.js';
import { writeCert, writeCerts } from '../../src/openpgp/cert.js';
import { freePort } from '../helpers/sks.js';
import { makeKey } from './keys.js';

const JOE_HASH = 'iy9q119eutrkn8s1mk4r39qejnbu3n5q';

describe('z-base-32 and WKD addresses', () => {
  test('the draft\'s vector: Joe.Doe@Example.ORG', () => {
    const a = parseWkdAddress('Joe.Doe@Example.ORG');
    assert.deepEqual(a, { local: 'Joe.Doe', domain: 'example.org', hash: JOE_HASH });
    assert.deepEqual(wkdUrls('Joe.Doe@Example.ORG'), {
      advanced: `https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/${JOE_HASH}?l=Joe.Doe`,
      direct: `https://example.org/.well-known/openpgpkey/hu/${JOE_HASH}?l=Joe.Doe`,
    });
  });

  test('z-base-32 of short inputs (bit padding at the end)', () => {
    assert.equal(zbase32(Buffer.alloc(0)), '');
    assert.equal(zbase32(Buffer.from([0])), 'yy');
    assert.equal(zbase32(Buffer.from([0xff])), '9h');
    assert.equal(zbase32(Buffer.alloc(5, 0xff)), '99999999');
  });

  test('the same hashes as gpg-wks-client --print-wkd-hash', () => {
    const addrs = ['Joe.Doe@Example.ORG', 'ÄLICE@example.org', 'ops+ssh@host.example.net', 'x@y.example'];
    const r = spawnSync('/usr/lib/gnupg/gpg-wks-client', ['--print-wkd-hash', ...addrs], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const theirs = r.stdout.trim().split('\n').map((l) => l.split(' ')[0]);
    assert.deepEqual(addrs.map((a) => parseWkdAddress(a).hash), theirs);
  });

  test('malformed addresses are input errors', () => {
    for (const bad of ['no-at-sign', '@example.org', 'joe@', 'joe@localhost', 'Joe <joe@example.org>', 'joe@exa mple.org']) {
      assert.throws(() => parseWkdAddress(bad), (e: unknown) => e instanceof InputError && e.code === 'MS_WKD_BAD_ADDRESS', bad);
    }
  });
});

describe('WKD lookup against a loopback server', () => {
  let server: Server;
  let port: number;
  let closedPort: number;
  /** path+query → [status, body] */
  let routes: Map<string, [number, Buffer | string]>;
  let seen: string[];

  const joe = makeKey(['Joe Doe <joe.doe@example.org>', 'Joe at work <jdoe@corp.example.com>']);
  const mallory = makeKey(['Mallory <mallory@example.org>']);
  const advancedPath = `/.well-known/openpgpkey/example.org/hu/${JOE_HASH}?l=Joe.Doe`;
  const directPath = `/.well-known/openpgpkey/hu/${JOE_HASH}?l=Joe.Doe`;

  /** Both hosts on the loopback server, or the advanced one on a closed port. */
  const rewrite = (advancedReachable: boolean) => (url: string) => {
    const u = new URL(url);
    const target = u.hostname.startsWith('openpgpkey.') && !advancedReachable ? closedPort : port;
    return `http://127.0.0.1:${target}${u.pathname}${u.search}`;
  };

  before(async () => {
    closedPort = await freePort();
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(req.url ?? '');
      const route = routes.get(req.url ?? '');
      if (!route) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(route[0], { 'content-type': 'application/octet-stream' }).end(route[1]);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  beforeEach(() => {
    routes = new Map();
    seen = [];
  });

  test('advanced method hit; user IDs for other addresses are removed', async () => {
    routes.set(advancedPath, [200, writeCert(joe.cert)]);
    const r = await wkdLookup('Joe.Doe@Example.ORG', { rewriteUrl: rewrite(true) });
    assert.equal(r.method, 'advanced');
    assert.deepEqual(seen, [advancedPath]);
    assert.equal(r.certs.length, 1);
    assert.equal(r.certs[0].primary.fpr, joe.primary.fpr);
    assert.deepEqual(r.certs[0].users.map((u) => u.text), ['Joe Doe <joe.doe@example.org>']);
    assert.equal(r.certs[0].users[0].signatures.length, 1);
    assert.deepEqual(r.problems, []);
  });

  test('direct method when the openpgpkey host cannot be reached', async () => {
    routes.set(directPath, [200, writeCert(joe.cert)]);
    const r = await wkdLookup('Joe.Doe@Example.ORG', { rewriteUrl: rewrite(false) });
    assert.equal(r.method, 'direct');
    assert.deepEqual(seen, [directPath]);
    assert.equal(r.certs[0].primary.fpr, joe.primary.fpr);
  });

  test('not found: a 404 from the advanced host is final (no direct request)', async () => {
    routes.set(directPath, [200, writeCert(joe.cert)]);
    const r = await wkdLookup('Joe.Doe@Example.ORG', { rewriteUrl: rewrite(true) });
    assert.deepEqual(r.certs, []);
    assert.equal(r.method, 'advanced');
    assert.deepEqual(seen, [advancedPath]);
  });

  test('not found through the direct method too', async () => {
    const r = await wkdLookup('Joe.Doe@Example.ORG', { rewriteUrl: rewrite(false) });
    assert.deepEqual(r.certs, []);
    assert.equal(r.method, 'direct');
  });

  test('certificates without a user ID for the address are dropped and reported', async () => {
    routes.set(advancedPath, [200, writeCerts([mallory.cert, joe.cert])]);
    const r = await wkdLookup('Joe.Doe@example.org', { rewriteUrl: rewrite(true) });
    assert.deepEqual(r.certs.map((c) => c.primary.fpr), [joe.primary.fpr]);
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0].code, 'MS_WKD_FOREIGN_CERT');
    assert.match(r.problems[0].message, new RegExp(mallory.primary.fpr));
  });

  test('an armored reply is accepted; garbage is reported, not thrown', async () => {
    routes.set(advancedPath, [200, armor('PUBLIC KEY BLOCK', writeCert(joe.cert))]);
    const ok = await wkdLookup('Joe.Doe@example.org', { rewriteUrl: rewrite(true) });
    assert.equal(ok.certs.length, 1);
    routes.set(advancedPath, [200, 'this is not a key\n']);
    const bad = await wkdLookup('Joe.Doe@example.org', { rewriteUrl: rewrite(true) });
    assert.deepEqual(bad.certs, []);
    assert.equal(bad.problems[0].code, 'MS_ARMOR_MALFORMED');
  });

  test('a server error is temporary; an oversized reply is cut off', async () => {
    routes.set(advancedPath, [503, 'busy']);
    await assert.rejects(wkdLookup('Joe.Doe@example.org', { rewriteUrl: rewrite(true) }), (e: unknown) => e instanceof TemporaryError && e.code === 'MS_WKD_SERVER_ERROR');
    routes.set(advancedPath, [200, Buffer.alloc(70_000, 0x99)]);
    await assert.rejects(
      wkdLookup('Joe.Doe@example.org', { rewriteUrl: rewrite(true), maxResponseBytes: 65_536 }),
      (e: unknown) => e instanceof InputError && e.code === 'MS_WKD_TOO_LARGE',
    );
  });

  test('neither host reachable: a temporary error', async () => {
    await assert.rejects(
      wkdLookup('Joe.Doe@example.org', { rewriteUrl: (u) => `http://127.0.0.1:${closedPort}${new URL(u).pathname}` }),
      (e: unknown) => e instanceof TemporaryError && e.code === 'MS_WKD_UNREACHABLE',
    );
  });
});
