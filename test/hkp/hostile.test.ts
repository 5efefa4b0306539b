/**
 * A malicious client against the HTTP face: junk and look-alike queries, odd methods and
 * paths, oversized headers, a body sent too slowly, a reader that never reads a big
 * certificate. The server answers each with a 4xx (never 500, never HTML), does not stall,
 * and serves other clients meanwhile.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { armor } from '../../src/openpgp/armor.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { keyPacketFor, signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import { KeyFlag, SigType } from '../../src/openpgp/signature.js';
import { generateKeyPairSync } from 'node:crypto';
import { makeKey } from '../keyserver/keys.js';
import { NOW, TestServer } from './harness.js';

/** Sends raw bytes on a new connection; resolves with everything read until the server closes or `ms` of silence. */
function raw(port: number, data: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    let timer = setTimeout(() => sock.destroy(), ms);
    sock.on('data', (d) => {
      got += d.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => sock.destroy(), ms);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    sock.on('error', () => undefined);
    sock.write(data);
  });
}

describe('hostile requests', () => {
  let s: TestServer;
  const host = makeKey(['ssh://host.example.org']);
  before(async () => {
    s = await TestServer.start();
    await s.ks.submit(Buffer.concat(host.cert.packets.map((p) => p.raw)), { now: NOW });
  });
  after(() => s.stop());

  test('junk, escapes, look-alikes and control characters in searches: 400 or 404, never 500 or HTML', async () => {
    const searches = [
      '%00',
      'a%00b',
      'abcd%00efgh', // a NUL inside a full-text query
      `0x${'A'.repeat(40)}%00`,
      '%ZZ',
      '%C0%AF%C0%AF',
      '%FF%FE',
      'ssh://h%D0%BEst.example.org', // Cyrillic о
      'ssh://host.example.org%E2%80%8B', // zero-width space
      'ѕѕh://һоѕt.ехаmрlе.оrg',
      '%0D%0AX-Injected:%201',
      '<script>alert(1)</script>',
      '0x',
      '0xGGGGGGGG',
      `0x${'F'.repeat(63)}`,
      '*',
      '%25%25%25',
      '..%2F..%2Fetc%2Fpasswd',
      '"\'\\;--',
      encodeURIComponent('a'.repeat(1000)),
    ];
    for (const search of searches) {
      for (const op of ['get', 'index', 'vindex', 'hget']) {
        const r = await fetch(`${s.base}/pks/lookup?op=${op}&options=mr&search=${search}`);
        assert.ok(r.status === 400 || r.status === 404, `${op} ${search}: ${r.status}`);
        assert.equal(r.headers.get('x-injected'), null);
        const body = await r.text();
        assert.notEqual(body[0], '<', `${op} ${search}`);
      }
    }
    // The look-alike host is not the host.
    const look = await fetch(`${s.base}/pks/lookup?op=index&options=mr&exact=on&search=${encodeURIComponent('ssh://hоst.example.org')}`);
    assert.equal(look.status, 404);
  });

  test('odd paths and methods under the API: 400, 404 or 501, never 500', async () => {
    const cases: Array<[string, string]> = [
      ['PUT', '/pks/lookup?op=get&search=x'],
      ['DELETE', '/pks/add'],
      ['GET', '/pks/add'],
      ['GET', '/pks/hashquery'],
      ['GET', '/pks/v2/certs/by-identity/%E0%A4%A'],
      ['GET', '/pks/v2/certs/by-nothing/x'],
      ['GET', '/pks/v2/'],
      ['GET', '/pks/v2/index/a/b/c'],
      ['GET', '/vks/v1/by-email/%'],
      ['GET', '/vks/v1/by-fingerprint/XYZ'],
      ['GET', '/.well-known/openpgpkey/%ZZ/hu/abc'],
      ['GET', '/.well-known/openpgpkey/hu/../../etc/passwd'],
      ['GET', '//pks/lookup?op=get&search=x'],
      ['POST', '/vks/v1/upload'],
      ['PATCH', '/pks/v2/certs'],
    ];
    for (const [method, path] of cases) {
      const r = await fetch(`${s.base}${path}`, { method, body: method === 'POST' || method === 'PATCH' ? 'x' : undefined });
      assert.ok([400, 404, 405, 501].includes(r.status), `${method} ${path}: ${r.status}`);
      await r.arrayBuffer();
    }
  });

  test('malformed HTTP, oversized headers, a request line of 100 KB: answered 4xx and closed', async () => {
    assert.match(await raw(s.port, 'BLAH\r\n\r\n'), /^HTTP\/1\.1 400/);
    assert.match(await raw(s.port, `GET /pks/lookup?op=get&search=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 (431|414|400)/);
    assert.match(await raw(s.port, `GET / HTTP/1.1\r\nHost: x\r\nX-A: ${'b'.repeat(40_000)}\r\n\r\n`), /^HTTP\/1\.1 431/);
    assert.match(await raw(s.port, randomBytes(2000)), /^(HTTP\/1\.1 400|)$/m);
    assert.equal((await fetch(`${s.base}/pks/health`)).status, 200);
  });

  test('a body sent too slowly is cut at the request deadline; others are served meanwhile', async () => {
    const t = await TestServer.start({ location: s.store.location, requestTimeoutMs: 500, headersTimeoutMs: 400 });
    try {
      const sock: Socket = connect(t.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write('POST /pks/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nkeytext=');
      const drip = setInterval(() => sock.writable && sock.write('A'), 50);
      const closed = new Promise<string>((resolve) => {
        let got = '';
        sock.on('data', (d) => {
          got += d.toString();
        });
        sock.on('close', () => resolve(got));
        sock.on('error', () => undefined);
      });
      assert.equal((await fetch(`${t.base}/pks/lookup?op=get&options=mr&search=0x${host.primary.fpr}`)).status, 200);
      const answer = await closed;
      clearInterval(drip);
      assert.match(answer, /^HTTP\/1\.1 408|^$/);
    } finally {
      await t.server.close(100);
    }
  });

  test('clients hanging up mid-body or mid-answer leave nothing behind', async () => {
    for (let i = 0; i < 20; i++) {
      const sock = connect(s.port, '127.0.0.1');
      sock.on('error', () => undefined);
      await new Promise((r) => sock.once('connect', r));
      sock.write(i % 2 === 0 ? 'POST /pks/add HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nkeytext=AAAA' : `GET /pks/lookup?op=get&options=mr&search=0x${host.primary.fpr} HTTP/1.1\r\nHost: x\r\n\r\n`);
      sock.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    const metrics = await (await fetch(`${s.base}/metrics`)).text();
    // Only the metrics request itself is in flight.
    assert.match(metrics, /^keyserver_http_requests_in_flight 1$/m);
    assert.equal((await fetch(`${s.base}/pks/health`)).status, 200);
  });

  test('a reader that never reads a big certificate holds up nobody', async () => {
    // 2,000 self-signed user IDs and 60,000 unsigned ones (the store takes what it is given):
    // about 13 MB, over what loopback's socket buffers hold.
    const { privateKey } = generateKeyPairSync('ed25519');
    const primary = keyPacketFor(privateKey, NOW - 86400);
    const raws = [primary.packet.raw];
    for (let i = 0; i < 2000; i++) {
      const user = userIdPacket(`Big ${i} <big${i}@example.org> ${'x'.repeat(60)}`);
      const sig = signV4({ kind: 'user', primary, user }, { type: SigType.PositiveCert, signer: primary, privateKey, hashed: [sp.created(NOW - 86400), sp.issuerFingerprint(primary), sp.keyFlags(KeyFlag.Certify)] });
      raws.push(user.raw, sig.packet.raw);
    }
    for (let i = 0; i < 60_000; i++) raws.push(userIdPacket(`Filler ${i} ${'y'.repeat(200)}`).raw);
    const big = readCerts(Buffer.concat(raws)).certs[0];
    await s.store.certs.put(big, NOW);
    const stalled: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const sock = connect(s.port, '127.0.0.1');
      sock.on('error', () => undefined);
      sock.write(`GET /pks/lookup?op=get&options=mr&search=0x${primary.fpr} HTTP/1.1\r\nHost: x\r\n\r\n`);
      sock.pause();
      stalled.push(sock);
    }
    try {
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < 5; i++) {
        const r = await fetch(`${s.base}/pks/lookup?op=index&options=mr&search=0x${host.primary.fpr}`);
        assert.equal(r.status, 200);
        await r.text();
      }
      // And the big one in full for a reader that reads.
      const full = await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${primary.fpr}`);
      assert.equal(full.headers.get('content-length'), null, 'streamed, not buffered');
      // Streamed in slices, the text is still exactly armor()'s: checksum over every slice.
      assert.equal(await full.text(), armor('PUBLIC KEY BLOCK', (await s.store.certs.get(primary.fpr))!.bytes));
    } finally {
      for (const sock of stalled) sock.destroy();
    }
    // A reader that never reads is cut once the connection has been silent for the idle timeout.
    const t = await TestServer.start({ location: s.store.location, idleTimeoutMs: 300 });
    try {
      const sock = connect(t.port, '127.0.0.1');
      sock.on('error', () => undefined);
      sock.write(`GET /pks/lookup?op=get&options=mr&search=0x${primary.fpr} HTTP/1.1\r\nHost: x\r\n\r\n`);
      sock.pause();
      // The paused client sees no close; the server's count of open connections does.
      while (t.server.metrics.connections === 0) await new Promise((r) => setTimeout(r, 20));
      while (t.server.metrics.connections > 0) await new Promise((r) => setTimeout(r, 20));
      assert.equal(t.server.metrics.inFlight, 0);
      sock.destroy();
    } finally {
      await t.server.close(100);
    }
  });
});
