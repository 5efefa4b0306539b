/**
 * The web pages as the keyserver's HTTP server (src/hkp/server.ts) mounts them, on SQLite and
 * on a real PostgreSQL (test/helpers/postgres.ts): its own paths stay its own (HKP, health),
 * every other path is the pages', a key uploaded through the web form is served over HKP at
 * once, as gpg would fetch it, and the key page reads what both back ends store alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CONTENT_SECURITY_POLICY } from '../../src/hkp/web/index.js';
import { armor, dearmor } from '../../src/openpgp/armor.js';
import { readCerts, writeCert } from '../../src/openpgp/cert.js';
import { PostgresServer } from '../helpers/postgres.js';
import { NOW, TestServer } from './harness.js';
import { makePeople, type WebPeople } from './web-fixtures.js';

/** The tests, on a server `start` gives (a fresh store each). */
function mountedSuite(name: string, start: () => Promise<TestServer>): void {
  describe(`the web pages in the HTTP server, on ${name}`, () => {
    let ts: TestServer;
    let people: WebPeople;

    before(async () => {
      people = makePeople(10);
      ts = await start();
      await ts.store.certs.putMany([people.alice.cert, people.bob.cert, people.host.cert], NOW - 86400);
    });

    after(async () => {
      await ts?.stop();
    });

    const get = async (path: string, init: RequestInit = {}) => {
      const r = await fetch(ts.base + path, { redirect: 'manual', ...init });
      return { status: r.status, headers: r.headers, text: await r.text() };
    };

    test('/ and the other page paths are the web pages, with their headers', async () => {
      for (const path of ['/', '/search?q=ssh%3A%2F%2Fhost.example.org', `/key/${people.alice.fpr}`, '/upload', '/stats']) {
        const r = await get(path);
        assert.equal(r.status, 200, path);
        assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8', path);
        assert.equal(r.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, path);
      }
      const css = await get('/assets/web.css');
      assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    });

    test("the server's own paths are its own; an unknown path is a plain 404", async () => {
      const lookup = await get(`/pks/lookup?op=get&options=mr&search=0x${people.alice.fpr}`);
      assert.equal(lookup.status, 200);
      assert.match(lookup.text, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
      assert.equal((await get('/pks/health')).status, 200);
      const none = await get('/no/such/page');
      assert.equal(none.status, 404);
      assert.doesNotMatch(none.headers.get('content-type') ?? '', /html/);
    });

    test('the key page: certifications verified against issuers in this store, attestations, subkeys', async () => {
      const page = (await get(`/key/${people.alice.fpr}`)).text;
      const row = page.slice(page.indexOf(`href="/key/${people.bob.fpr}"`));
      assert.match(row.slice(0, row.indexOf('</tr>')), />verified<\/span><span class="badge info"[^>]*>attested</);
      assert.match(page, /Third-party certifications: 2 \(1 verified, 2 attested\)/);
      assert.match(page, /<td>authenticate<\/td>/);
      const search = (await get('/search?q=alice%40example.org')).text;
      assert.ok(search.includes(`/key/${people.alice.fpr}`));
    });

    test('a key uploaded through the form is served over HKP', async () => {
      const form = new FormData();
      form.append('keytext', armor('PUBLIC KEY BLOCK', writeCert(people.carol.cert)));
      const r = await get('/upload', { method: 'POST', body: form });
      assert.equal(r.status, 200);
      assert.match(r.text, /1 certificate: 1 new\./);
      const index = await get('/pks/lookup?op=index&options=mr&search=carol%40example.net');
      assert.equal(index.status, 200);
      assert.ok(index.text.includes(people.carol.fpr));
      const served = await get(`/pks/lookup?op=get&options=mr&search=0x${people.carol.fpr}`);
      assert.equal(readCerts(dearmor(Buffer.from(served.text))).certs[0].primary.fpr, people.carol.fpr);
      // And the web page shows what HKP serves.
      const page = await get(`/key/${people.carol.fpr}`);
      assert.ok(page.text.includes('Carol &lt;carol@example.net&gt;'));
    });

    test('an upload the keyserver refuses is a page with the status, not JSON', async () => {
      const form = new FormData();
      form.append('keytext', 'not a key');
      const r = await get('/upload', { method: 'POST', body: form });
      assert.equal(r.status, 422);
      assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    });
  });
}

mountedSuite('SQLite', () => TestServer.start());

const pg = new PostgresServer();
describe('on PostgreSQL', () => {
  before(() => pg.start());
  after(() => pg.stop());
  mountedSuite('PostgreSQL', async () => TestServer.start({ location: await pg.database() }));
});
