/**
 * The web pages over HTTP, in-process: each route's status, headers and content over a SQLite
 * store of built certificates (verified, unknown-issuer and attested certifications, a host
 * key, a revoked key, hostile user IDs, a flooded certificate), uploads through a keyserver
 * double, and the bounds. The escaping helpers and the query parser have their own tests in
 * web-render.test.ts; the same pages in a real browser are in web-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EnvironmentError, InputError, TemporaryError } from '../../src/errors.js';
import { CONTENT_SECURITY_POLICY, type SubmitReport, webHandler } from '../../src/hkp/web/index.js';
import { buildKeyView, DEFAULT_KEY_VIEW_LIMITS } from '../../src/hkp/web/key-view.js';
import { keyPage } from '../../src/hkp/web/pages.js';
import { armor, dearmor } from '../../src/openpgp/armor.js';
import { userIdPacket } from '../../src/openpgp/build.js';
import { readCerts, writeCert } from '../../src/openpgp/cert.js';
import { Keyserver } from '../../src/server/keyserver.js';
import { Person } from '../auth/pki.js';
import { EVIL_LOOKALIKE, EVIL_MARKUP, fakeKeyserver, flood, makePeople, NOW, openWebStore, type WebPeople, type WebStore } from './web-fixtures.js';

let people: WebPeople;
let ws: WebStore;
let ks: ReturnType<typeof fakeKeyserver>;
let server: Server;
let base: string;
const errors: unknown[] = [];

before(async () => {
  people = makePeople(3000);
  const { alice, bob, host, revoked, mallory, flooded } = people;
  // Carol is not on the server: her certification of Alice cannot be verified.
  ws = await openWebStore([alice.cert, bob.cert, host.cert, revoked.cert, mallory.cert, flooded.cert]);
  ks = fakeKeyserver(ws.store);
  const handle = webHandler({ ks, now: () => NOW, maxUploadBytes: 64 * 1024, onError: (e) => errors.push(e) });
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    handle(req, res, url).then((done) => {
      if (!done) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not mine\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await ws?.close();
});

async function get(path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(base + path, { redirect: 'manual', ...init });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

function postForm(fields: Record<string, string>, asMultipart = true): Promise<{ status: number; headers: Headers; text: string }> {
  if (!asMultipart) return get('/upload', { method: 'POST', body: new URLSearchParams(fields) });
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return get('/upload', { method: 'POST', body: form });
}

describe('routes', () => {
  test('the home page: a labelled search box, language, the strict policy and no inline script', async () => {
    const r = await get('/');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(r.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.match(r.text, /<html lang="en">/);
    assert.match(r.text, /<label for="q">Search keys<\/label>/);
    assert.match(r.text, /<input id="q" name="q" type="search"/);
    // Scripts only from files; no inline handlers or style attributes.
    for (const m of r.text.matchAll(/<script\b[^>]*>/g)) assert.match(m[0], /src="\/assets\/web\.js\?v=[0-9a-f]+"/);
    assert.doesNotMatch(r.text, /\son[a-z]+=|style=/i);
  });

  test('other paths are left to the rest of the server', async () => {
    for (const path of ['/pks/lookup?op=get&search=0x1234', '/vks/v1/by-fingerprint/AB', '/.well-known/openpgpkey/policy', '/keys', '/searching']) {
      const r = await get(path);
      assert.equal(r.text, 'not mine\n', path);
    }
  });

  test('a method a page does not take is 405 with Allow', async () => {
    const r = await get('/', { method: 'POST', body: 'x' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
    const d = await get('/upload', { method: 'DELETE' });
    assert.equal(d.status, 405);
    assert.equal(d.headers.get('allow'), 'GET, HEAD, POST');
  });

  test('HEAD answers the headers of GET without a body', async () => {
    const g = await get('/stats');
    const h = await get('/stats', { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.text, '');
    assert.equal(h.headers.get('content-length'), String(Buffer.byteLength(g.text)));
  });

  test('assets: the style sheet and script, cached for good when linked by hash', async () => {
    const home = await get('/');
    const css = /href="(\/assets\/web\.css\?v=[0-9a-f]+)"/.exec(home.text)![1];
    const r = await get(css);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.match(r.headers.get('cache-control')!, /immutable/);
    const stale = await get('/assets/web.css?v=old');
    assert.doesNotMatch(stale.headers.get('cache-control')!, /immutable/);
    const js = await get('/assets/web.js');
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal((await get('/assets/nope.js')).status, 404);
  });
});

describe('search', () => {
  test('by e-mail address: the certificate whose user ID has exactly that address', async () => {
    const r = await get('/search?q=alice%40example.org');
    assert.equal(r.status, 200);
    assert.match(r.text, /1 certificate<\/?[^>]*>? for e-mail address|1 certificate for e-mail address/);
    assert.ok(r.text.includes(`/key/${people.alice.fpr}`));
    assert.ok(r.text.includes('Alice &lt;alice@example.org&gt;'));
    // Case does not matter in an address; a longer address is another one.
    assert.ok((await get('/search?q=ALICE%40Example.org')).text.includes(`/key/${people.alice.fpr}`));
    assert.equal((await get('/search?q=lice%40example.org')).status, 404);
  });

  test('by ssh://host: the host key, by its exact user ID', async () => {
    const r = await get('/search?q=ssh%3A%2F%2Fhost.example.org');
    assert.equal(r.status, 200);
    assert.ok(r.text.includes(`/key/${people.host.fpr}`));
    assert.match(r.text, /exact user ID/);
    assert.match(r.text, /<bdi>ssh:\/\/host\.example\.org<\/bdi><\/span><span class="badge info" title="[^"]*">SSH host<\/span>/);
    assert.ok((await get('/search?q=ssh://HOST.example.org')).text.includes(`/key/${people.host.fpr}`));
    assert.equal((await get('/search?q=ssh://host.example')).status, 404);
  });

  test('by key ID (16 and 8 digits, with or without 0x) and by subkey ID', async () => {
    for (const q of [people.bob.primary.keyId, `0x${people.bob.primary.keyId.toLowerCase()}`, people.bob.primary.keyId.slice(8)]) {
      const r = await get(`/search?q=${encodeURIComponent(q)}`);
      assert.equal(r.status, 200, q);
      assert.ok(r.text.includes(`/key/${people.bob.fpr}`), q);
    }
    const sub = await get(`/search?q=0x${people.host.authPacket.keyId}`);
    assert.ok(sub.text.includes(`/key/${people.host.fpr}`));
  });

  test('by fingerprint (grouped in fours): straight to the key page', async () => {
    const grouped = people.alice.fpr.replace(/(.{4})/g, '$1 ').trim();
    const r = await get(`/search?q=${encodeURIComponent(grouped)}`);
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), `/key/${people.alice.fpr}`);
    // A subkey's fingerprint lists its primary instead.
    const sub = await get(`/search?q=${people.host.authPacket.fpr}`);
    assert.equal(sub.status, 200);
    assert.ok(sub.text.includes(`/key/${people.host.fpr}`));
  });

  test('by words: user IDs containing them, ignoring case; status badges', async () => {
    const r = await get('/search?q=rita');
    assert.equal(r.status, 200);
    assert.ok(r.text.includes(`/key/${people.revoked.fpr}`));
    assert.match(r.text, /badge bad[^>]*>revoked</);
  });

  test('an empty query goes home; a bad one is 400 with the reason; nothing found is 404', async () => {
    const e = await get('/search?q=%20');
    assert.equal(e.status, 303);
    assert.equal(e.headers.get('location'), '/');
    const short = await get('/search?q=ab');
    assert.equal(short.status, 400);
    assert.match(short.text, /at least 3 characters/);
    const hex = await get('/search?q=0x12345');
    assert.equal(hex.status, 400);
    const none = await get('/search?q=nobody-at-all');
    assert.equal(none.status, 404);
    assert.match(none.text, /No certificates/);
  });

  test('the query comes back escaped, in the box and the heading', async () => {
    const q = '"><script>alert(1)</script>';
    const r = await get(`/search?q=${encodeURIComponent(q)}`);
    assert.ok(!r.text.includes('<script>alert(1)'));
    assert.ok(r.text.includes('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'));
  });

  test('results are capped, with a note that there are more', async () => {
    const capped = webHandler({ ks, now: () => NOW, resultLimit: 2 });
    const srv = createServer((req, res) => void capped(req, res, new URL(req.url ?? '/', 'http://x')));
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const r = await fetch(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/search?q=example.org`);
      const text = await r.text();
      assert.equal((text.match(/<li>\n<div><a href="\/key\//g) ?? []).length, 2);
      assert.match(text, /More than 2 certificates match/);
    } finally {
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });
});

describe('key page', () => {
  test("Alice's: user IDs, certifications verified, unknown issuer, attested; subkeys with capabilities", async () => {
    const r = await get(`/key/${people.alice.fpr}`);
    assert.equal(r.status, 200);
    const t = r.text;
    assert.ok(t.includes(`0x${people.alice.primary.keyId}`));
    assert.ok(t.includes('Alice (work) &lt;alice@work.example&gt;'));
    // Bob is on the server: linked, named, verified and (Alice attested it) attested.
    const bobRow = t.slice(t.indexOf(`href="/key/${people.bob.fpr}"`));
    assert.ok(bobRow.length < t.length, 'Bob is linked');
    const bobCells = bobRow.slice(0, bobRow.indexOf('</tr>'));
    assert.ok(bobCells.includes('Bob &lt;bob@example.org&gt;'));
    assert.match(bobCells, />verified</);
    assert.match(bobCells, />attested</);
    // Carol is not: not linked, not verified.
    const carolAt = t.indexOf(`0x${people.carol.primary.keyId}`);
    assert.ok(carolAt > 0);
    const carolCells = t.slice(carolAt, t.indexOf('</tr>', carolAt));
    assert.match(carolCells, /not on this server/);
    assert.match(carolCells, />issuer unknown</);
    assert.match(carolCells, />attested</);
    assert.ok(!t.includes(`/key/${people.carol.fpr}`));
    assert.match(t, /Third-party certifications: 2 \(1 verified, 2 attested\)/);
    // The authentication subkey.
    assert.ok(t.includes(`0x${people.alice.authPacket.keyId}`));
    assert.match(t, /<td>authenticate<\/td>/);
    assert.match(t, /Ed25519|EdDSA ed25519/);
    assert.match(t, new RegExp(`href="/key/${people.alice.fpr}\\.asc"`));
    // Whom Alice certified: the host.
    const certified = t.slice(t.indexOf('<h2>Keys it certified</h2>'));
    assert.ok(certified.includes(`href="/key/${people.host.fpr}"`));
    assert.ok(certified.includes('ssh://host.example.org'));
  });

  test('a revoked key says so, with the reason', async () => {
    const r = await get(`/key/${people.revoked.fpr}`);
    assert.match(r.text, /<h1>Key <code>0x[0-9A-F]{16}<\/code><span class="badge bad"[^>]*>revoked<\/span><\/h1>/);
    assert.match(r.text, /revoked <time[^>]*>[0-9-]+<\/time>: <bdi>compromised<\/bdi>/);
  });

  test('hostile user IDs: markup escaped, bidi override shown as a mark, lookalikes flagged', async () => {
    const r = await get(`/key/${people.mallory.fpr}`);
    const t = r.text;
    assert.ok(!t.includes('<script>alert'), 'markup is escaped');
    assert.ok(t.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Mallory'));
    assert.ok(!t.includes('\u202E'), 'the override is not in the page');
    assert.match(t, /<span class="cp" title="hidden character U\+202E">U\+202E<\/span>gro\.elpmaxe@yrollam/);
    assert.match(t, />hidden characters</);
    assert.match(t, />mixed scripts: Latin \+ Cyrillic</);
    assert.ok(t.includes('title="non-ASCII characters: U+0430"'));
    assert.ok(t.includes(EVIL_LOOKALIKE.replace('<', '&lt;').replace('>', '&gt;')));
    assert.ok(EVIL_MARKUP.includes('<script>'));
  });

  test('a flooded certificate renders within its bounds, fast', async () => {
    const t0 = performance.now();
    const r = await get(`/key/${people.flooded.fpr}`);
    const ms = performance.now() - t0;
    assert.equal(r.status, 200);
    const rows = (r.text.match(/<tr>\n<td>/g) ?? []).length;
    assert.ok(rows <= 50 + 1 + 10, `${rows} rows`);
    assert.match(r.text, new RegExp(`Third-party certifications: ${people.floodSize + 1} \\(1 verified, 0 attested\\)`));
    assert.match(r.text, /2951 more certifications are not listed \(2001 not examined\)/);
    // Bob's genuine certification is listed first, among thousands.
    const firstRow = r.text.indexOf('<tbody>');
    assert.ok(r.text.indexOf(`/key/${people.bob.fpr}`, firstRow) < r.text.indexOf('not on this server', firstRow));
    assert.ok(ms < 5000, `${ms} ms`);
  });

  test('bounds over the whole page: certifications examined and listed in all', async () => {
    const many = new Person(['One <one@example.org>', 'Two <two@example.org>', 'Three <three@example.org>']);
    for (let i = 0; i < 3; i++) flood(many, people.mallory, 30, i);
    await ws.store.certs.put(many.cert, NOW);
    const stored = (await ws.store.certs.get(many.fpr))!;
    const v = await buildKeyView(ws.store, stored, NOW, { ...DEFAULT_KEY_VIEW_LIMITS, shownPerUserId: 20, shownTotal: 50, examinedTotal: 70 });
    const byText = (t: string) => v.userIds.find((u) => u.text.startsWith(t))!;
    assert.deepEqual(
      ['One', 'Two', 'Three'].map((t) => [byText(t).certifications.length, byText(t).certificationCount, byText(t).notExamined]),
      [
        [20, 30, 0],
        [20, 30, 0],
        [10, 30, 20],
      ],
    );
    const page = keyPage(v);
    assert.match(page, /20 more certifications are not listed \(20 not examined\)/);
  });

  test('the .asc download is the stored certificate, armored', async () => {
    const r = await get(`/key/${people.alice.fpr}.asc`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/pgp-keys');
    assert.equal(r.headers.get('content-disposition'), `attachment; filename="${people.alice.fpr}.asc"`);
    const stored = await ws.store.certs.get(people.alice.fpr);
    assert.deepEqual(dearmor(Buffer.from(r.text)), stored!.bytes);
  });

  test('lower-case fingerprints redirect; key IDs go to a search; unknown keys are 404', async () => {
    const lower = await get(`/key/${people.bob.fpr.toLowerCase()}`);
    assert.equal(lower.status, 303);
    assert.equal(lower.headers.get('location'), `/key/${people.bob.fpr}`);
    const id = await get(`/key/${people.bob.primary.keyId}`);
    assert.equal(id.status, 303);
    assert.equal(id.headers.get('location'), `/search?q=0x${people.bob.primary.keyId}`);
    assert.equal((await get(`/key/${'A'.repeat(40)}`)).status, 404);
    assert.equal((await get('/key/%3Cscript%3E')).status, 404);
    assert.equal((await get('/key/%ZZ%E0%A4')).status, 404);
    assert.equal((await get(`/key/${people.bob.fpr}.gpg`)).status, 404);
    assert.deepEqual(errors, []);
  });
});

describe('upload', () => {
  test('the form: labelled textarea and file field, posted as multipart', async () => {
    const r = await get('/upload');
    assert.equal(r.status, 200);
    assert.match(r.text, /<form action="\/upload" method="post" enctype="multipart\/form-data">/);
    assert.match(r.text, /<label for="keytext">/);
    assert.match(r.text, /<label for="keyfile">/);
  });

  test('a pasted key (multipart, then form-encoded): the report says what changed', async () => {
    const carol = people.carol;
    const text = armor('PUBLIC KEY BLOCK', writeCert(carol.cert));
    const first = await postForm({ keytext: text });
    assert.equal(first.status, 200);
    assert.match(first.text, /1 certificate: 1 new\./);
    assert.ok(first.text.includes(`href="/key/${carol.fpr}"`));
    assert.ok(first.text.includes('Carol &lt;carol@example.net&gt;'));
    assert.match(first.text, /Added: 1 user ID, 1 subkey, 0 third-party certifications\.<\/p>\n\n\n/);
    const again = await postForm({ keytext: text }, false);
    assert.match(again.text, /1 certificate: 1 unchanged\./);
    assert.equal(ks.calls.at(-1)!.opts.now, NOW);
    assert.equal(ks.calls.at(-1)!.opts.client, '127.0.0.1');
    // Now Carol is on the server, and her certification of Alice verifies.
    const alice = await get(`/key/${people.alice.fpr}`);
    assert.match(alice.text, /Third-party certifications: 2 \(2 verified, 2 attested\)/);
  });

  test('a key file (binary) and pasted text together: both submitted', async () => {
    const form = new FormData();
    form.append('keytext', armor('PUBLIC KEY BLOCK', writeCert(people.bob.cert)));
    form.append('keyfile', new Blob([writeCert(people.host.cert)]), 'host.gpg');
    const r = await get('/upload', { method: 'POST', body: form });
    assert.equal(r.status, 200);
    assert.match(r.text, /2 certificates: 2 unchanged\./);
  });

  test('a pasted key taken and a key file refused: the report says both', async () => {
    const form = new FormData();
    form.append('keytext', armor('PUBLIC KEY BLOCK', writeCert(people.bob.cert)));
    form.append('keyfile', new Blob([Buffer.from('random junk, not a key')]), 'junk.gpg');
    const r = await get('/upload', { method: 'POST', body: form });
    assert.equal(r.status, 200);
    assert.match(r.text, /1 certificate: 1 unchanged\./);
    assert.match(r.text, /role="alert"><bdi>The key file was not taken: the upload holds no OpenPGP certificate<\/bdi>/);
  });

  test('a report shows held, released and dropped counts, and escapes what it names', async () => {
    const saved = ks.submit;
    ks.submit = async (): Promise<SubmitReport> => ({
      certs: [
        {
          fpr: people.mallory.fpr as never,
          status: 'updated',
          userIds: [EVIL_MARKUP],
          kept: { userIds: 3, subkeys: 1, certifications: 4 },
          held: 7,
          released: 2,
          dropped: { 'bad signature': 5, '<b>budget</b>': 1, none: 0 },
        },
        { fpr: 'B'.repeat(40) as never, status: 'blocked' as const, userIds: [], kept: { userIds: 0, subkeys: 0, certifications: 0 }, held: 0, released: 0, dropped: {} },
      ],
    });
    try {
      const r = await postForm({ keytext: 'x' });
      assert.match(r.text, /2 certificates: 1 updated, 1 blocked\./);
      assert.match(r.text, /Held aside: 7 certifications by issuers not on this server/);
      assert.match(r.text, /Released: 2 held certifications on other keys/);
      assert.match(r.text, /<td><bdi>bad signature<\/bdi><\/td><td>5<\/td>/);
      assert.ok(r.text.includes('&lt;b&gt;budget&lt;/b&gt;'));
      assert.ok(!r.text.includes('<td>none</td>'));
      assert.ok(!r.text.includes('<script>alert'));
      assert.ok(!r.text.includes(`href="/key/${'B'.repeat(40)}"`), 'a blocked key is not linked');
    } finally {
      ks.submit = saved;
    }
  });

  test('refusals: nothing to upload 400, unparseable 422, too large 413, rate limited 429, store down 503, a bug 500', async () => {
    assert.equal((await postForm({ keytext: '   ' })).status, 400);
    const bad = await postForm({ keytext: 'not a key at all' });
    assert.equal(bad.status, 422);
    assert.match(bad.text, /holds no OpenPGP certificate/);
    const big = await postForm({ keytext: 'A'.repeat(70 * 1024) });
    assert.equal(big.status, 413);
    const odd = await get('/upload', { method: 'POST', body: 'keytext=x', headers: { 'content-type': 'text/plain' } });
    assert.equal(odd.status, 415);
    ks.failWith = new InputError('MS_KS_RATE_LIMITED', 'too many uploads from 127.0.0.1', { data: { retryAfter: 42 } });
    try {
      const limited = await postForm({ keytext: 'x' });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '42');
      ks.failWith = new TemporaryError('MS_STORE_BUSY', 'database is locked at /secret/path');
      const busy = await postForm({ keytext: 'x' });
      assert.equal(busy.status, 503);
      assert.ok(!busy.text.includes('/secret/path'));
      ks.failWith = new Error('boom at /secret/path');
      const bug = await postForm({ keytext: 'x' });
      assert.equal(bug.status, 500);
      assert.ok(!bug.text.includes('/secret/path'));
      assert.ok(errors.some((e) => e === ks.failWith));
    } finally {
      ks.failWith = undefined;
    }
  });

  test('a malformed multipart body is 400', async () => {
    const r = await get('/upload', { method: 'POST', body: '--xyz\r\nContent-Disposition: form-data; name="keytext"\r\n\r\nabc', headers: { 'content-type': 'multipart/form-data; boundary=xyz' } });
    assert.equal(r.status, 400);
  });
});

describe('a failing store', () => {
  test('busy or unreadable: 503, without the store message', async () => {
    const broken = (err: Error) =>
      webHandler({
        ks: {
          store: new Proxy(ws.store, {
            get(target, prop) {
              if (prop === 'search' || prop === 'certs') {
                return new Proxy({}, { get: () => async () => { throw err; } });
              }
              return Reflect.get(target, prop);
            },
          }),
          submit: ks.submit,
        },
        now: () => NOW,
      });
    for (const err of [new TemporaryError('MS_STORE_BUSY', 'database is locked: /srv/secret.sqlite'), new EnvironmentError('MS_STORE_IO', 'cannot open /srv/secret.sqlite')]) {
      const handle = broken(err);
      const srv = createServer((req, res) => void handle(req, res, new URL(req.url ?? '/', 'http://x')));
      await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
      try {
        for (const path of ['/search?q=alice', `/key/${people.alice.fpr}`, '/stats']) {
          const r = await fetch(`http://127.0.0.1:${(srv.address() as AddressInfo).port}${path}`);
          assert.equal(r.status, 503, `${err.message} ${path}`);
          assert.ok(!(await r.text()).includes('/srv/secret'));
        }
      } finally {
        await new Promise<void>((resolve) => srv.close(() => resolve()));
      }
    }
  });
});

describe('stats', () => {
  test('certificate count and recent changes, newest first, linked', async () => {
    const r = await get('/stats');
    assert.equal(r.status, 200);
    const count = await ws.store.certs.count();
    assert.ok(r.text.includes(`<dd id="cert-count">${count}</dd>`));
    assert.match(r.text, /most recent changes, newest first/);
    // Carol was uploaded last.
    const firstRow = r.text.slice(r.text.indexOf('<tbody>'));
    assert.ok(firstRow.indexOf(people.carol.fpr) < firstRow.indexOf(people.alice.fpr));
    assert.match(firstRow, /<td>new<\/td>/);
    assert.ok(!r.text.includes('<script>alert'));
  });

  test('a deleted certificate is listed, not linked', async () => {
    const extra = readCerts(writeCert(new Person(['Temporary <tmp@example.org>']).cert)).certs[0];
    await ws.store.certs.put(extra, NOW);
    await ws.store.certs.delete(extra.primary.fpr, NOW + 1);
    const r = await get('/stats');
    const firstRow = r.text.slice(r.text.indexOf('<tbody>'), r.text.indexOf('</tr>', r.text.indexOf('<tbody>')));
    assert.match(firstRow, /<td>deleted<\/td>/);
    assert.ok(firstRow.includes(extra.primary.fpr.slice(0, 4)));
    assert.ok(!firstRow.includes('<a href'));
  });
});

describe('upload through the real keyserver (src/server/keyserver.ts)', () => {
  let store: WebStore;
  let real: Keyserver;
  let srv: Server;
  let url: string;

  before(async () => {
    store = await openWebStore([]);
    real = await Keyserver.open(store.store, { clientUploads: 6, clientWindow: 60, maxUploadBytes: 1024 * 1024 });
    const handle = webHandler({ ks: real, now: () => NOW });
    srv = createServer((req, res) => void handle(req, res, new URL(req.url ?? '/', 'http://x')));
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => srv?.close(() => resolve()));
    await store?.close();
  });

  const upload = async (keytext: string) => {
    const form = new FormData();
    form.append('keytext', keytext);
    const r = await fetch(`${url}/upload`, { method: 'POST', body: form });
    return { status: r.status, headers: r.headers, text: await r.text() };
  };
  const page = async (path: string) => (await fetch(url + path)).text();

  test('a certification by an unknown issuer is held aside, then released when the issuer arrives', async () => {
    const host = await upload(armor('PUBLIC KEY BLOCK', writeCert(people.host.cert)));
    assert.equal(host.status, 200);
    assert.match(host.text, /1 certificate: 1 new\./);
    assert.match(host.text, /Held aside: 1 certification by issuers not on this server/);
    assert.match(await page(`/key/${people.host.fpr}`), /<dt>Held aside<\/dt><dd>1 certification by issuers/);
    assert.match(await page(`/key/${people.host.fpr}`), /No third-party certifications\./);
    // Alice's key: Bob's and Carol's certifications are attested by Alice, so kept though neither is here.
    const alice = await upload(armor('PUBLIC KEY BLOCK', writeCert(people.alice.cert)));
    assert.match(alice.text, /1 certificate: 1 new\./);
    assert.match(alice.text, /Released: 1 held certification on other keys/);
    const hostPage = await page(`/key/${people.host.fpr}`);
    assert.doesNotMatch(hostPage, /Held aside/);
    const row = hostPage.slice(hostPage.indexOf(`href="/key/${people.alice.fpr}"`));
    assert.match(row.slice(0, row.indexOf('</tr>')), />verified</);
    const alicePage = await page(`/key/${people.alice.fpr}`);
    assert.match(alicePage, /Third-party certifications: 2 \(0 verified, 2 attested\)/);
  });

  test('what the policy drops is counted in the report', async () => {
    const flooded = await upload(armor('PUBLIC KEY BLOCK', writeCert(people.flooded.cert)));
    assert.equal(flooded.status, 200);
    assert.match(flooded.text, /1 certificate: 1 new\./);
    assert.match(flooded.text, /<caption>Dropped<\/caption>/);
    const keyPage = await page(`/key/${people.flooded.fpr}`);
    assert.match(keyPage, /<dt>Held aside<\/dt><dd>\d+ certifications by issuers/);
  });

  test('a user ID over the packet size cap: 413, nothing stored', async () => {
    const huge = new Person(['Huge <huge@example.org>']);
    const bytes = Buffer.concat([writeCert(huge.cert), userIdPacket(`Huge ${'x'.repeat(100 * 1024)}`).raw]);
    const r = await upload(armor('PUBLIC KEY BLOCK', bytes));
    assert.equal(r.status, 413);
    assert.match(r.text, /over the limit/);
    assert.equal(await store.store.certs.get(huge.fpr), undefined);
  });

  test('refusals from the keyserver: unparseable 422, too large 413, then rate limited 429 with Retry-After', async () => {
    const junk = await upload('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64 at all!\n-----END PGP PUBLIC KEY BLOCK-----\n');
    assert.equal(junk.status, 422);
    // Over the keyserver's limit, within the form's slack: the keyserver refuses it.
    const big = await upload('x'.repeat(1024 * 1024 + 1000));
    assert.equal(big.status, 413);
    let last = big;
    for (let i = 0; i < 8 && last.status !== 429; i++) last = await upload('y');
    assert.equal(last.status, 429);
    assert.ok(Number(last.headers.get('retry-after')) > 0);
    assert.match(last.text, /Too many uploads/);
  });
});

describe('an upload the HTTP server refuses before reading it', () => {
  test('admitUpload: its error decides the status (429 with Retry-After); the keyserver is not called', async () => {
    const calls = ks.calls.length;
    const handle = webHandler({
      ks,
      now: () => NOW,
      admitUpload: () => {
        throw new TemporaryError('MS_HKP_RATE_LIMITED', 'too many requests; try again in 7 s', { data: { retryAfter: 7 } });
      },
    });
    const srv = createServer((req, res) => void handle(req, res, new URL(req.url ?? '/', 'http://x')));
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const form = new FormData();
      form.append('keytext', armor('PUBLIC KEY BLOCK', writeCert(people.bob.cert)));
      const r = await fetch(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/upload`, { method: 'POST', body: form });
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '7');
      assert.match(await r.text(), /try again in 7 s/);
      assert.equal(ks.calls.length, calls);
      // The form itself is still served.
      assert.equal((await fetch(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/upload`)).status, 200);
    } finally {
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });
});

describe('a client that hangs up', () => {
  test('mid-upload: no error reported, the server keeps answering', async () => {
    const { connect } = await import('node:net');
    const before = errors.length;
    const port = Number(new URL(base).port);
    await new Promise<void>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => {
        sock.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 50000\r\n\r\n--b\r\nContent-Disposition: form-data; name="keytext"\r\n\r\nabc');
        setTimeout(() => {
          sock.destroy();
          resolve();
        }, 100);
      });
      sock.on('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(errors.length, before);
    assert.equal((await get('/')).status, 200);
  });
});

describe('signature checks from page views', () => {
  test('a forged certification by an issuer on the server shows as bad; only good outcomes reach the shared cache', async () => {
    const victim = new Person(['Victor <victor@example.org>']).certifiedBy(people.bob);
    const sig = victim.cert.users[0].signatures.at(-1)!.packet.raw;
    const forged = Buffer.from(sig);
    forged[forged.length - 3] ^= 0x40;
    const bytes = writeCert(victim.cert);
    const at = bytes.indexOf(sig);
    const cert = readCerts(Buffer.concat([bytes.subarray(0, at), forged, bytes.subarray(at + sig.length)])).certs[0];
    await ws.store.certs.put(cert, NOW);
    const recorded: boolean[] = [];
    const store = new Proxy(ws.store, {
      get(target, prop) {
        if (prop !== 'verifications') return Reflect.get(target, prop);
        return {
          lookup: (keys: Buffer[]) => target.verifications.lookup(keys),
          record: (entries: Array<[Buffer, boolean]>) => {
            recorded.push(...entries.map(([, ok]) => ok));
            return target.verifications.record(entries);
          },
        };
      },
    });
    const handle = webHandler({ ks: { store, submit: ks.submit }, now: () => NOW });
    const srv = createServer((req, res) => void handle(req, res, new URL(req.url ?? '/', 'http://x')));
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const text = await (await fetch(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/key/${victim.fpr}`)).text();
      const row = text.slice(text.indexOf(`href="/key/${people.bob.fpr}"`));
      assert.match(row.slice(0, row.indexOf('</tr>')), />bad signature</);
      assert.ok(recorded.length > 0, 'the self-signatures were recorded');
      assert.ok(recorded.every((ok) => ok), 'no failure was recorded');
    } finally {
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });
});
