/**
 * The HTTP face with our own requests, on a SQLite store and the real keyserver service:
 * every HKP v1 lookup form and its answer format, uploads (forms, several keys, bare
 * revocations, binary bodies), hashquery, the status codes, CORS and HEAD, HKP v2, VKS, WKD,
 * health and metrics, and the defences (body cap, rate limit, slow clients, connection cap).
 * Reference time fixed (harness NOW); the rate limiter's clock is stepped by hand.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseMrIndex } from '../../src/keyserver/mr-index.js';
import { armor, dearmor } from '../../src/openpgp/armor.js';
import { keyPacketFor, signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import { readCerts, writeCert } from '../../src/openpgp/cert.js';
import { KeyFlag, SigType } from '../../src/openpgp/signature.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import { UPLOAD_FIELD } from '../../src/hkp/web/pages.js';
import { wkdHash, zbase32 } from '../../src/hkp/wkd.js';
import { certify, makeKey, type TestKey } from '../keyserver/keys.js';
import { NOW, TestServer } from './harness.js';

const form = (armored: string) => `keytext=${encodeURIComponent(armored)}`;
const asc = (k: TestKey | Buffer) => armor('PUBLIC KEY BLOCK', Buffer.isBuffer(k) ? k : writeCert(k.cert));

async function post(base: string, path: string, body: string | Buffer, type = 'application/x-www-form-urlencoded'): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': type } });
}

/** Sends `size` bytes in one POST with node:http; resolves with the status (or the socket error's code). */
function postBig(base: string, path: string, size: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': size } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!req.write(chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/** A GET with its own Host header (fetch does not let one set it): the WKD direct method takes the domain from it. */
function getWithHost(url: string, host: string): Promise<{ status: number; type?: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

describe('HKP v1 lookups', () => {
  let s: TestServer;
  const host = makeKey(['ssh://host.example.org', 'ssh://host.example.org:2222']);
  const web = makeKey(['https://www.example.org']);
  const alice = makeKey(['Alice Example <alice@example.org>', 'Zoë Colon: Test %41']);
  const eve = makeKey(['Eve <alice@example.org.evil.example>']);
  before(async () => {
    s = await TestServer.start();
    for (const k of [host, web, alice, eve]) await s.ks.submit(writeCert(certify(k, k.cert.users[0].text, alice)), { now: NOW });
  });
  after(() => s.stop());

  const lookup = (q: string, init?: RequestInit) => fetch(`${s.base}/pks/lookup?${q}`, init);

  test('op=get by v4 fingerprint, 16- and 8-digit key ID, with and without 0x: armored, application/pgp-keys', async () => {
    for (const search of [`0x${host.primary.fpr}`, host.primary.fpr, `0x${host.primary.keyId}`, host.primary.keyId, `0x${host.primary.keyId.slice(8)}`, `0x${host.primary.fpr.toLowerCase()}`]) {
      const r = await lookup(`op=get&options=mr&search=${search}`);
      assert.equal(r.status, 200, search);
      assert.match(r.headers.get('content-type') ?? '', /^application\/pgp-keys/);
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
      assert.equal(r.headers.get('x-hkp-results-count'), '1');
      const body = await r.text();
      assert.ok(body.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----\n'));
      const certs = readCerts(dearmor(Buffer.from(body))).certs;
      assert.deepEqual(
        certs.map((c) => c.primary.fpr),
        [host.primary.fpr],
      );
      // What is served is exactly what is stored.
      assert.deepEqual(writeCert(certs[0]), (await s.store.certs.get(host.primary.fpr))!.bytes);
    }
  });

  test('the streamed armor is the same text as armor() (one block; checksum over every slice)', async () => {
    const r = await (await lookup(`op=get&options=mr&search=0x${alice.primary.fpr}`)).text();
    assert.equal(r, armor('PUBLIC KEY BLOCK', (await s.store.certs.get(alice.primary.fpr))!.bytes));
  });

  test('no match: 404 in plain text; a malformed query: 400; never HTML', async () => {
    const cases: Array<[string, number]> = [
      ['op=get&options=mr&search=0xDEADBEEFDEADBEEF', 404],
      ['op=index&options=mr&search=nobody-here', 404],
      ['op=get&options=mr&search=0x123', 400],
      ['op=frobnicate&search=alice', 400],
      ['search=alice', 400],
      ['op=get&options=mr', 400],
      ['op=index&options=mr&search=ab', 400],
      [`op=index&options=mr&search=${'x'.repeat(5000)}`, 400],
      ['op=hget&search=xyz', 400],
    ];
    for (const [q, status] of cases) {
      const r = await lookup(q);
      assert.equal(r.status, status, q);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/, q);
      const body = await r.text();
      assert.notEqual(body[0], '<', q);
      assert.equal(body.split('\n').filter((l) => l).length, 1, q);
    }
  });

  test('op=index&options=mr: GnuPG\'s format, user IDs %-escaped, read back by our parser', async () => {
    const r = await lookup(`op=index&options=mr&search=0x${alice.primary.fpr}`);
    assert.equal(r.status, 200);
    const text = await r.text();
    const lines = text.split('\n');
    assert.equal(lines[0], 'info:1:1');
    assert.equal(lines[1], `pub:${alice.primary.fpr}:22:255:${alice.primary.created}::`);
    // A user ID's time is its newest self-signature's (the first was certified again a day later).
    assert.equal(lines[2], `uid:Alice Example <alice@example.org>:${alice.primary.created + 86400}::`);
    assert.equal(lines[3], `uid:Zo%C3%AB Colon%3A Test %2541:${alice.primary.created}::`);
    const parsed = parseMrIndex(text);
    assert.deepEqual(
      parsed.keys[0].userIds.map((u) => u.text),
      ['Alice Example <alice@example.org>', 'Zoë Colon: Test %41'],
    );
  });

  test('text search: GnuPG 2.2\'s unescaped =ssh://host finds the exact user ID first; ports and https:// too', async () => {
    const mr = async (search: string, extra = '') => parseMrIndex(await (await lookup(`op=index&options=mr${extra}&search=${search}`)).text()).keys.map((k) => k.id);
    assert.deepEqual(await mr('ssh://host.example.org'), [host.primary.fpr]);
    assert.deepEqual(await mr(encodeURIComponent('ssh://host.example.org:2222')), [host.primary.fpr]);
    assert.deepEqual(await mr('https://www.example.org', '&exact=on'), [web.primary.fpr]);
    // A bare address is a whole address, case-insensitive: not Eve's lookalike that contains it.
    assert.deepEqual(await mr('ALICE@example.org'), [alice.primary.fpr]);
    // Anything else: substring and words, case-insensitive.
    assert.deepEqual(await mr('%40example.org'), [alice.primary.fpr, eve.primary.fpr].sort());
    assert.deepEqual(await mr(encodeURIComponent('example.org> alice')), [alice.primary.fpr]);
    // exact=on: a whole user ID or a whole address only.
    assert.deepEqual(await mr('alice@example.org', '&exact=on'), [alice.primary.fpr]);
    assert.equal((await lookup('op=index&options=mr&exact=on&search=ssh://host.example')).status, 404);
  });

  test('op=vindex and op=index without mr: plain-text listings; vindex shows certifications', async () => {
    const r = await lookup(`op=vindex&search=0x${host.primary.fpr}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await r.text();
    assert.match(text, /^uid {2}ssh:\/\/host\.example\.org$/m);
    assert.match(text, new RegExp(`^sig {2}0x10 ${alice.primary.keyId} `, 'm'));
    const idx = await (await lookup('op=index&search=ssh://host.example.org')).text();
    assert.doesNotMatch(idx, /^sig/m);
  });

  test('SKS\'s limit=N: at most N; limit=0 only the count', async () => {
    const all = await lookup('op=index&options=mr&search=example.org');
    assert.equal(all.headers.get('x-hkp-results-count'), '4');
    const one = await (await lookup('op=index&options=mr&limit=1&search=example.org')).text();
    assert.equal(parseMrIndex(one).keys.length, 1);
    const none = await lookup('op=index&options=mr&limit=0&search=example.org');
    assert.equal(none.headers.get('x-hkp-results-count'), '4');
    assert.equal(await none.text(), 'info:1:4\n');
    assert.equal((await lookup('op=index&options=mr&limit=-1&search=example.org')).status, 400);
  });

  test('op=hget by SKS digest, op=stats as text and JSON', async () => {
    const digest = sksDigest((await s.store.certs.get(web.primary.fpr))!.bytes).toString('hex');
    const r = await lookup(`op=hget&search=${digest}`);
    assert.equal(r.status, 200);
    assert.equal(readCerts(dearmor(Buffer.from(await r.text()))).certs[0].primary.fpr, web.primary.fpr);
    assert.equal((await lookup(`op=hget&search=${'0'.repeat(32)}`)).status, 404);
    const stats = (await (await lookup('op=stats&options=mr')).json()) as { numkeys: number };
    assert.equal(stats.numkeys, 4);
    assert.match(await (await lookup('op=stats')).text(), /certificates: 4/);
  });

  test('HEAD answers the headers of GET without a body; OPTIONS answers CORS', async () => {
    const r = await lookup(`op=get&options=mr&search=0x${web.primary.fpr}`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/pgp-keys/);
    assert.equal(await r.text(), '');
    const o = await fetch(`${s.base}/pks/add`, { method: 'OPTIONS' });
    assert.equal(o.status, 200);
    assert.equal(o.headers.get('access-control-allow-origin'), '*');
    assert.match(o.headers.get('allow') ?? '', /POST/);
  });
});

describe('uploads', () => {
  let s: TestServer;
  before(async () => {
    s = await TestServer.start();
  });
  after(() => s.stop());

  test('POST /pks/add: several keys in one keytext, and a binary body', async () => {
    const a = makeKey(['ssh://a.example.org']);
    const b = makeKey(['ssh://b.example.org']);
    const r = await post(s.base, '/pks/add', form(asc(Buffer.concat([writeCert(a.cert), writeCert(b.cert)]))));
    assert.equal(r.status, 200);
    const text = await r.text();
    assert.match(text, new RegExp(`^inserted ${a.primary.fpr}`, 'm'));
    assert.match(text, new RegExp(`^inserted ${b.primary.fpr}`, 'm'));
    const c = makeKey(['ssh://c.example.org']);
    const bin = await post(s.base, '/pks/add', writeCert(c.cert), 'application/pgp-keys');
    assert.equal(bin.status, 200);
    assert.ok(await s.store.certs.get(c.primary.fpr));
    // JSON when asked.
    const again = await fetch(`${s.base}/pks/add`, { method: 'POST', body: form(asc(c)), headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' } });
    assert.equal(((await again.json()) as { certs: Array<{ status: string }> }).certs[0].status, 'unchanged');
  });

  test('a bare revocation certificate merges into the stored key; the index says r', async () => {
    const k = makeKey(['ssh://revoked.example.org']);
    assert.equal((await post(s.base, '/pks/add', form(asc(k)))).status, 200);
    const rev = signV4({ kind: 'key', primary: k.primary }, { type: SigType.KeyRevocation, signer: k.primary, privateKey: k.privateKey, hashed: [sp.created(NOW - 10), sp.issuerFingerprint(k.primary), sp.reason(2, 'compromised')] });
    const r = await post(s.base, '/pks/add', form(armor('PUBLIC KEY BLOCK', rev.packet.raw)));
    assert.equal(r.status, 200, await r.clone().text());
    const idx = parseMrIndex(await (await fetch(`${s.base}/pks/lookup?op=index&options=mr&search=0x${k.primary.fpr}`)).text());
    assert.equal(idx.keys[0].flags.revoked, true);
  });

  test('index flags: e for an expired key, r for a revoked user ID', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const created = NOW - 10 * 86400;
    const primary = keyPacketFor(privateKey, created);
    const uid = (text: string, type: number, extra: Buffer[]) => {
      const user = userIdPacket(text);
      const sig = signV4({ kind: 'user', primary, user }, { type, signer: primary, privateKey, hashed: [sp.created(created + 60), sp.issuerFingerprint(primary), ...extra] });
      return [user.raw, sig.packet.raw];
    };
    // Expired a day before the server's reference time; the second user ID revoked.
    const a = uid('ssh://expired.example.org', SigType.PositiveCert, [sp.keyExpiresAfter(9 * 86400), sp.keyFlags(KeyFlag.Certify)]);
    const b = uid('ssh://old-name.example.org', SigType.CertRevocation, [sp.reason(32, 'renamed')]);
    await s.store.certs.put(readCerts(Buffer.concat([primary.packet.raw, ...a, ...b])).certs[0], NOW);
    const text = await (await fetch(`${s.base}/pks/lookup?op=index&options=mr&search=0x${primary.fpr}`)).text();
    assert.match(text, new RegExp(`^pub:${primary.fpr}:22:255:${created}:${created + 9 * 86400}:e$`, 'm'));
    assert.match(text, /^uid:ssh%3A\/\/expired\.example\.org:\d+::$/m);
    assert.match(text, /^uid:ssh%3A\/\/old-name\.example\.org:\d+::r$/m);
  });

  test('a revocation by a designated revoker counts once the revoker is stored', async () => {
    const fixture = (name: string) => readCerts(readFileSync(new URL(`../fixtures/certs/${name}.pgp`, import.meta.url))).certs[0];
    const larry = fixture('revoked-by-designated');
    await s.store.certs.put(larry, NOW);
    const flagsOf = async () => parseMrIndex(await (await fetch(`${s.base}/pks/lookup?op=index&options=mr&search=0x${larry.primary.fpr}`)).text()).keys[0].flags.revoked;
    // The revoker (alice) is unknown: the revocation cannot be checked.
    assert.equal(await flagsOf(), false);
    await s.store.certs.put(fixture('alice'), NOW);
    assert.equal(await flagsOf(), true);
  });

  test('unparseable uploads: 422 with a JSON error, never a crash', async () => {
    const bodies = [
      form(randomBytes(3000).toString('latin1')),
      form('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64 at all!!\n-----END PGP PUBLIC KEY BLOCK-----\n'),
      form('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF\n'),
      form(armor('PUBLIC KEY BLOCK', randomBytes(500))),
    ];
    for (const body of bodies) {
      const r = await post(s.base, '/pks/add', body);
      assert.equal(r.status, 422);
      const j = (await r.json()) as { error: { code: string } };
      assert.match(j.error.code, /^MS_/);
    }
    // A certificate with nothing bound: its self-signatures left out.
    const bare = makeKey(['ssh://unbound.example.org']);
    const unbound = await post(s.base, '/pks/add', form(asc(Buffer.concat(bare.cert.packets.filter((p) => p.tag !== 2).map((p) => p.raw)))));
    assert.equal(unbound.status, 422);
    assert.equal(((await unbound.json()) as { error: { code: string } }).error.code, 'MS_HKP_REJECTED');
    const raw = await post(s.base, '/pks/add', randomBytes(4096), 'application/octet-stream');
    assert.equal(raw.status, 422);
    assert.equal((await post(s.base, '/pks/add', 'other=1')).status, 400);
    // Still serving.
    assert.equal((await fetch(`${s.base}/pks/health`)).status, 200);
  });

  test('a 20 MB body: 413, the server stops reading and goes on serving', async () => {
    assert.equal(await postBig(s.base, '/pks/add', 20 * 1024 * 1024), 413);
    // Also without a declared length (chunked).
    const r = await fetch(`${s.base}/pks/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(1024 * 1024).fill(0x41));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(r.status, 413);
    assert.equal((await fetch(`${s.base}/pks/health`)).status, 200);
  });

  test('POST /pks/hashquery: SKS\'s binary request and answer', async () => {
    const k = makeKey(['ssh://hq.example.org']);
    await post(s.base, '/pks/add', form(asc(k)));
    const stored = (await s.store.certs.get(k.primary.fpr))!;
    const body = Buffer.alloc(4 + 2 * 20);
    body.writeUInt32BE(2, 0);
    body.writeUInt32BE(16, 4);
    stored.digest.copy(body, 8);
    body.writeUInt32BE(16, 24);
    createHash('md5').update('nothing').digest().copy(body, 28);
    const r = await post(s.base, '/pks/hashquery', body, 'application/octet-stream');
    assert.equal(r.status, 200);
    const answer = Buffer.from(await r.arrayBuffer());
    assert.equal(answer.readUInt32BE(0), 1);
    const len = answer.readUInt32BE(4);
    assert.deepEqual(answer.subarray(8, 8 + len), stored.bytes);
    assert.equal(answer.subarray(8 + len).toString(), '\r\n');
    assert.equal((await post(s.base, '/pks/hashquery', Buffer.from([0, 0, 0, 5]), 'application/octet-stream')).status, 400);
  });
});

describe('limits', () => {
  test('uploads over the per-client token bucket: 429 with Retry-After; refilled as the clock moves', async () => {
    let ms = 0;
    const s = await TestServer.start({ uploadRate: { burst: 2, perSecond: 0.5, clock: () => ms } });
    try {
      const k = makeKey(['ssh://rate.example.org']);
      assert.equal((await post(s.base, '/pks/add', form(asc(k)))).status, 200);
      assert.equal((await post(s.base, '/pks/add', form(asc(k)))).status, 200);
      const r = await post(s.base, '/pks/add', form(asc(k)));
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '2');
      ms += 2000;
      assert.equal((await post(s.base, '/pks/add', form(asc(k)))).status, 200);
      // Lookups are not limited by default.
      for (let i = 0; i < 5; i++) assert.equal((await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${k.primary.fpr}`)).status, 200);
      const metrics = await (await fetch(`${s.base}/metrics`)).text();
      assert.match(metrics, /^keyserver_rate_limited_total 1$/m);
    } finally {
      await s.stop();
    }
  });

  test('an upload whose every certificate is over its update window: 429, Retry-After until the window has room', async () => {
    const s = await TestServer.start({ now: () => NOW, uploadRate: false, policy: { certUpdates: 1, certWindow: 600 } });
    try {
      const owner = makeKey(['ssh://window.example.org']);
      const other = makeKey(['Other <other@example.org>']);
      assert.equal((await post(s.base, '/pks/add', form(asc(other)))).status, 200);
      assert.equal((await post(s.base, '/pks/add', form(asc(owner)))).status, 200);
      const r = await post(s.base, '/pks/add?options=mr', form(asc(writeCert(certify(owner, 'ssh://window.example.org', other)))));
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '600');
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'MS_HKP_RATE_LIMITED');
    } finally {
      await s.stop();
    }
  });

  test('the web upload form draws on the same bucket as /pks/add', async () => {
    const s = await TestServer.start({ uploadRate: { burst: 2, perSecond: 0.001, clock: () => 0 } });
    try {
      const k = makeKey(['ssh://form-rate.example.org']);
      const viaForm = () => post(s.base, '/upload', new URLSearchParams({ [UPLOAD_FIELD]: asc(k) }).toString());
      assert.equal((await post(s.base, '/pks/add', form(asc(k)))).status, 200);
      assert.equal((await viaForm()).status, 200);
      const refused = await viaForm();
      assert.equal(refused.status, 429);
      assert.match(await refused.text(), /Too many uploads/);
      assert.equal((await post(s.base, '/pks/add', form(asc(k)))).status, 429);
    } finally {
      await s.stop();
    }
  });

  test('hashquery is a read: the upload bucket does not limit it, the lookup bucket does', async () => {
    const k = makeKey(['ssh://hashquery-rate.example.org']);
    const query = () => {
      const stored = readCerts(dearmor(Buffer.from(asc(k)))).certs[0];
      const d = sksDigest(writeCert(stored));
      const body = Buffer.alloc(24);
      body.writeInt32BE(1, 0);
      body.writeInt32BE(16, 4);
      d.copy(body, 8);
      return body;
    };
    const uploads = await TestServer.start({ uploadRate: { burst: 1, perSecond: 0.001, clock: () => 0 } });
    try {
      assert.equal((await post(uploads.base, '/pks/add', form(asc(k)))).status, 200);
      assert.equal((await post(uploads.base, '/pks/add', form(asc(k)))).status, 429);
      for (let i = 0; i < 3; i++) assert.equal((await post(uploads.base, '/pks/hashquery', query(), 'application/octet-stream')).status, 200);
    } finally {
      await uploads.stop();
    }
    const reads = await TestServer.start({ readRate: { burst: 1, perSecond: 0.001, clock: () => 0 } });
    try {
      assert.equal((await post(reads.base, '/pks/hashquery', query(), 'application/octet-stream')).status, 200);
      assert.equal((await post(reads.base, '/pks/hashquery', query(), 'application/octet-stream')).status, 429);
    } finally {
      await reads.stop();
    }
  });

  test('behind a proxy (trustProxy), each X-Forwarded-For client has its own bucket; without it, the header is ignored', async () => {
    const k = makeKey(['ssh://proxied.example.org']);
    const send = (base: string, xff: string) =>
      fetch(`${base}/pks/add`, { method: 'POST', body: form(asc(k)), headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': xff } });
    const proxied = await TestServer.start({ trustProxy: true, uploadRate: { burst: 1, perSecond: 0.001, clock: () => 0 } });
    try {
      assert.equal((await send(proxied.base, '192.0.2.1, 10.0.0.1')).status, 200);
      assert.equal((await send(proxied.base, '192.0.2.9, 10.0.0.1')).status, 429);
      assert.equal((await send(proxied.base, '10.0.0.2')).status, 200);
    } finally {
      await proxied.stop();
    }
    const direct = await TestServer.start({ uploadRate: { burst: 1, perSecond: 0.001, clock: () => 0 } });
    try {
      assert.equal((await send(direct.base, '10.0.0.1')).status, 200);
      assert.equal((await send(direct.base, '10.0.0.2')).status, 429);
    } finally {
      await direct.stop();
    }
  });

  test('a client that never finishes its headers is cut off; others are served meanwhile', async () => {
    const s = await TestServer.start({ headersTimeoutMs: 300 });
    try {
      const sock = connect(s.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write('GET /pks/lookup?op=stats HTTP/1.1\r\nHost: x\r\n');
      const closed = new Promise<string>((resolve) => {
        let got = '';
        sock.on('data', (d) => {
          got += d.toString();
        });
        sock.on('close', () => resolve(got));
      });
      assert.equal((await fetch(`${s.base}/pks/lookup?op=stats`)).status, 200);
      // Drip a header line now and then: the deadline is for the whole header block.
      const drip = setInterval(() => sock.writable && sock.write('X-Slow: 1\r\n'), 50);
      const answer = await closed;
      clearInterval(drip);
      assert.match(answer, /^HTTP\/1\.1 408/);
    } finally {
      await s.stop();
    }
  });

  test('connections over the cap are refused at once; the server goes on', async () => {
    const s = await TestServer.start({ maxConnections: 2 });
    try {
      const held = [connect(s.port, '127.0.0.1'), connect(s.port, '127.0.0.1')];
      await Promise.all(held.map((c) => new Promise((r) => c.once('connect', r))));
      // Node accepts, counts and closes the third connection.
      const third = connect(s.port, '127.0.0.1');
      await new Promise((r) => third.once('close', r));
      for (const c of held) c.destroy();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await fetch(`${s.base}/pks/health`)).status, 200);
    } finally {
      await s.stop();
    }
  });
});

describe('HKP v2, VKS, WKD, health and metrics', () => {
  let s: TestServer;
  const bob = makeKey(['Bob Example <Bob.Smith@Example.ORG>', 'Bob <bob@other.example>', 'ssh://bob.example.org']);
  before(async () => {
    s = await TestServer.start();
    await s.ks.submit(writeCert(bob.cert), { now: NOW });
  });
  after(() => s.stop());

  test('/pks/v2/certs by-vfingerprint, by-keyid, by-identity: binary', async () => {
    for (const path of [`by-vfingerprint/04${bob.primary.fpr}`, `by-keyid/${bob.primary.keyId}`, `by-identity/${encodeURIComponent('bob.smith@example.org')}`, `by-identity/${encodeURIComponent('ssh://bob.example.org')}`]) {
      const r = await fetch(`${s.base}/pks/v2/certs/${path}`);
      assert.equal(r.status, 200, path);
      assert.match(r.headers.get('content-type') ?? '', /armor=no/);
      assert.equal(readCerts(Buffer.from(await r.arrayBuffer())).certs[0].primary.fpr, bob.primary.fpr);
    }
    assert.equal((await fetch(`${s.base}/pks/v2/certs/by-vfingerprint/05${bob.primary.fpr}`)).status, 400);
    const missing = await fetch(`${s.base}/pks/v2/certs/by-identity/nobody%40example.org`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'MS_HKP_NOT_FOUND');
    assert.equal((await fetch(`${s.base}/pks/v2/canonical/x`)).status, 501);
    assert.equal((await fetch(`${s.base}/pks/v2/canonical`, { method: 'OPTIONS' })).status, 501);
    assert.equal((await fetch(`${s.base}/pks/v2/certs`, { method: 'OPTIONS' })).status, 200);
  });

  test('POST /pks/v2/certs takes a binary certificate and answers JSON', async () => {
    const k = makeKey(['ssh://v2-submit.example.org']);
    const r = await fetch(`${s.base}/pks/v2/certs`, { method: 'POST', body: writeCert(k.cert), headers: { 'content-type': 'application/pgp-keys' } });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { certs: Array<{ fpr: string; status: string }> }).certs[0].status, 'inserted');
    assert.equal((await fetch(`${s.base}/pks/v2/certs/by-vfingerprint/04${k.primary.fpr}`)).status, 200);
    const bad = await fetch(`${s.base}/pks/v2/certs`, { method: 'POST', body: randomBytes(100), headers: { 'content-type': 'application/pgp-keys' } });
    assert.equal(bad.status, 422);
    assert.match(((await bad.json()) as { error: { code: string } }).error.code, /^MS_/);
  });

  test('/pks/v2/index: JSON', async () => {
    const j = (await (await fetch(`${s.base}/pks/v2/index/04${bob.primary.fpr}`)).json()) as Array<{ fingerprint: string; version: number; userIDs: Array<{ uidString: string }> }>;
    assert.equal(j[0].fingerprint, bob.primary.fpr);
    assert.equal(j[0].version, 4);
    assert.deepEqual(
      j[0].userIDs.map((u) => u.uidString),
      ['Bob Example <Bob.Smith@Example.ORG>', 'Bob <bob@other.example>', 'ssh://bob.example.org'],
    );
  });

  test('VKS v1: by-fingerprint, by-keyid, by-email (armored); upload (JSON)', async () => {
    for (const path of [`by-fingerprint/${bob.primary.fpr}`, `by-keyid/${bob.primary.keyId}`, `by-email/${encodeURIComponent('bob@other.example')}`]) {
      const r = await fetch(`${s.base}/vks/v1/${path}`);
      assert.equal(r.status, 200, path);
      assert.match(r.headers.get('content-type') ?? '', /^application\/pgp-keys/);
      assert.equal(readCerts(dearmor(Buffer.from(await r.text()))).certs[0].primary.fpr, bob.primary.fpr);
    }
    assert.equal((await fetch(`${s.base}/vks/v1/by-email/nobody%40other.example`)).status, 404);
    const k = makeKey(['Val <val@example.net>']);
    const up = await fetch(`${s.base}/vks/v1/upload`, { method: 'POST', body: JSON.stringify({ keytext: asc(k) }), headers: { 'content-type': 'application/json' } });
    assert.equal(up.status, 200);
    const j = (await up.json()) as { key_fpr: string; status: Record<string, string> };
    assert.equal(j.key_fpr, k.primary.fpr);
    assert.deepEqual(j.status, { 'val@example.net': 'published' });
    const bad = await fetch(`${s.base}/vks/v1/upload`, { method: 'POST', body: '{"keytext": "junk"}', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 422);
    assert.equal(typeof ((await bad.json()) as { error: unknown }).error, 'string');
  });

  test('WKD: z-base-32 of SHA-1; direct and advanced; only the matching user ID; policy', async () => {
    // The draft's example: Joe.Doe@Example.ORG -> iy9q119eutrkn8s1mk4r39qejnbu3n5q.
    assert.equal(wkdHash('Joe.Doe'), 'iy9q119eutrkn8s1mk4r39qejnbu3n5q');
    assert.equal(zbase32(Buffer.from([0xff])), '9h');
    const hu = wkdHash('Bob.Smith');
    const direct = await getWithHost(`${s.base}/.well-known/openpgpkey/hu/${hu}?l=Bob.Smith`, 'example.org');
    assert.equal(direct.status, 200);
    assert.equal(direct.type, 'application/octet-stream');
    const cert = readCerts(direct.body).certs[0];
    assert.equal(cert.primary.fpr, bob.primary.fpr);
    assert.deepEqual(
      cert.users.map((u) => u.text),
      ['Bob Example <Bob.Smith@Example.ORG>'],
    );
    const advanced = await fetch(`${s.base}/.well-known/openpgpkey/example.org/hu/${hu}`);
    assert.equal(advanced.status, 200);
    assert.equal((await fetch(`${s.base}/.well-known/openpgpkey/other.example/hu/${hu}`)).status, 404);
    assert.equal((await fetch(`${s.base}/.well-known/openpgpkey/example.org/hu/${hu}?l=someone`)).status, 404);
    const head = await fetch(`${s.base}/.well-known/openpgpkey/example.org/hu/${hu}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal((await fetch(`${s.base}/.well-known/openpgpkey/example.org/policy`)).status, 200);
    assert.equal((await getWithHost(`${s.base}/.well-known/openpgpkey/policy`, 'example.org')).status, 200);
  });

  test('WKD limited to configured domains', async () => {
    const t = await TestServer.start({ location: s.store.location, wkdDomains: ['other.example'] });
    try {
      const hu = wkdHash('Bob.Smith');
      assert.equal((await fetch(`${t.base}/.well-known/openpgpkey/example.org/hu/${hu}`)).status, 404);
      assert.equal((await fetch(`${t.base}/.well-known/openpgpkey/other.example/hu/${wkdHash('bob')}`)).status, 200);
    } finally {
      await t.server.close(100);
    }
  });

  test('/pks/health and /metrics (Prometheus text)', async () => {
    const h = await fetch(`${s.base}/pks/health`);
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: 'ok' });
    await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${bob.primary.fpr}`);
    const m = await fetch(`${s.base}/metrics`);
    assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await m.text();
    assert.match(text, /^keyserver_http_requests_total\{route="\/pks\/lookup",status="200"\} \d+$/m);
    assert.match(text, /^keyserver_certificates \d+$/m);
    assert.match(text, /^# TYPE keyserver_http_request_duration_seconds summary$/m);
  });

  test('a browser on an old SKS index link goes to the search page; programs never do', async () => {
    const url = `${s.base}/pks/lookup?op=vindex&search=ssh://bob.example.org`;
    const browser = await fetch(url, { headers: { accept: 'text/html,*/*' }, redirect: 'manual' });
    assert.equal(browser.status, 303);
    assert.equal(browser.headers.get('location'), `/search?q=${encodeURIComponent('ssh://bob.example.org')}`);
    const followed = await fetch(url, { headers: { accept: 'text/html' } });
    assert.match(followed.headers.get('content-type') ?? '', /^text\/html/);
    for (const headers of [{}, { accept: '*/*' }] as Array<Record<string, string>>) assert.equal((await fetch(url, { headers, redirect: 'manual' })).status, 200);
    assert.equal((await fetch(`${url}&options=mr`, { headers: { accept: 'text/html' }, redirect: 'manual' })).status, 200);
  });

  test('the web pages are mounted for other paths; API paths never answer HTML', async () => {
    const home = await fetch(`${s.base}/`);
    assert.equal(home.status, 200);
    assert.match(home.headers.get('content-type') ?? '', /^text\/html/);
    const r = await fetch(`${s.base}/pks/lookup?op=index&options=mr&search=nobody-here`, { headers: { accept: 'text/html' } });
    assert.equal(r.status, 404);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  });
});

describe('v6 certificates', () => {
  let s: TestServer;
  let fpr = '';
  before(async () => {
    s = await TestServer.start();
    const vera = readCerts(readFileSync(new URL('../fixtures/store/v6.pgp', import.meta.url))).certs[0];
    fpr = vera.primary.fpr;
    await s.store.certs.put(vera, NOW);
  });
  after(() => s.stop());

  test('HKP v1 serves a v6 certificate only to a search by its whole fingerprint (GnuPG 2.2 cannot read one)', async () => {
    assert.equal(fpr.length, 64);
    const got = await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${fpr}`);
    assert.equal(got.status, 200);
    assert.equal(readCerts(dearmor(Buffer.from(await got.text()))).certs[0].primary.fpr, fpr);
    const idx = await (await fetch(`${s.base}/pks/lookup?op=index&options=mr&search=0x${fpr}`)).text();
    assert.match(idx, new RegExp(`^pub:${fpr}:`, 'm'));
    assert.equal((await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${fpr.slice(0, 16)}`)).status, 404);
    assert.equal((await fetch(`${s.base}/pks/lookup?op=index&options=mr&search=vera@example.org`)).status, 404);
  });

  test('HKP v2 by-vfingerprint and VKS serve it; v2 by-keyid does not (the draft)', async () => {
    assert.equal((await fetch(`${s.base}/pks/v2/certs/by-vfingerprint/06${fpr}`)).status, 200);
    assert.equal((await fetch(`${s.base}/pks/v2/certs/by-keyid/${fpr.slice(0, 16)}`)).status, 404);
    assert.equal((await fetch(`${s.base}/vks/v1/by-fingerprint/${fpr}`)).status, 200);
    assert.equal((await fetch(`${s.base}/vks/v1/by-keyid/${fpr.slice(0, 16)}`)).status, 200);
    assert.equal((await fetch(`${s.base}/vks/v1/by-email/vera%40example.org`)).status, 200);
    const j = (await (await fetch(`${s.base}/pks/v2/index/06${fpr}`)).json()) as Array<{ version: number }>;
    assert.equal(j[0].version, 6);
  });
});
