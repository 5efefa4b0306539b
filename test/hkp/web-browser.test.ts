/**
 * The web pages in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven by
 * playwright-core, which never downloads a browser. A small node:http server on loopback
 * serves `webHandler` and the real keyserver service (src/server/keyserver.ts) over a temporary
 * SQLite store holding built certificates; keys made by real gpg (--faked-system-time) are
 * uploaded through the form. Searches by e-mail, ssh://host and key ID, the key page's
 * certifications and badges, an upload through the form (pasted text and a file) and its
 * report, the stats page, hostile user IDs, all with JavaScript on and again with it off.
 * Last, the shipped command (`monkeysphere-keyserver serve`): a key uploaded through its form is
 * on its pages and gpg --recv-keys fetches it with its certification. Screenshots go to
 * test-artifacts/web/ (index.html lists them). Chromium, the servers, the store and gpg's homes
 * are stopped and removed on every path.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { webHandler } from '../../src/hkp/web/index.js';
import { readCerts, writeCert } from '../../src/openpgp/cert.js';
import { Keyserver } from '../../src/server/keyserver.js';
import { GpgHome } from '../helpers/gpg.js';
import { Person } from '../auth/pki.js';
import { flood, makePeople, NOW, openWebStore, type WebPeople, type WebStore } from './web-fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = new URL('../../test-artifacts/web/', import.meta.url).pathname;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface GpgKeys {
  gina: { fpr: string; bytes: Buffer };
  host: { fpr: string; armored: string };
}

/** Gina's key, and a host key `ssh://gpghost.example.org` with an authentication subkey that Gina certified, made by gpg. */
function gpgKeys(home: GpgHome): GpgKeys {
  const fprOf = (uid: string) => home.colons(['--list-keys', uid]).find((r) => r[0] === 'fpr')![9];
  home.ok(['--quick-gen-key', 'Gina Gpg <gina@example.org>', 'ed25519', 'default', 'never']);
  home.ok(['--quick-gen-key', 'ssh://gpghost.example.org', 'ed25519', 'cert', 'never']);
  const gina = fprOf('gina@example.org');
  const host = fprOf('ssh://gpghost.example.org');
  home.ok(['--quick-add-key', host, 'ed25519', 'auth', '2y']);
  home.ok(['-u', gina, '--quick-sign-key', host]);
  return {
    gina: { fpr: gina, bytes: home.ok(['--export', gina]).stdoutBytes },
    host: { fpr: host, armored: home.ok(['--export', '--armor', host]).stdout },
  };
}

let people: WebPeople;
let ws: WebStore | undefined;
let gpg: GpgHome | undefined;
let keys: GpgKeys;
let server: Server | undefined;
let base: string;
let work: string;
const contexts: BrowserContext[] = [];
/** Processes this file started (`serve`), stopped in `after`. */
const commands: ChildProcess[] = [];

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'ms-web-browser-'));
  gpg = new GpgHome(NOW);
  keys = gpgKeys(gpg);
  people = makePeople(200);
  const { alice, bob, host, revoked, mallory, flooded } = people;
  ws = await openWebStore([alice.cert, bob.cert, host.cert, revoked.cert, mallory.cert, flooded.cert]);
  // The certificates above are put straight into the store; uploads go through the keyserver's policy.
  const handle = webHandler({ ks: await Keyserver.open(ws.store), now: () => NOW });
  server = createServer((req, res) => {
    handle(req, res, new URL(req.url ?? '/', 'http://localhost')).then((done) => {
      if (!done) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found\n');
      }
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

// Every path: browsers first, then the server, the store, gpg's agent and the temp files.
after(async () => {
  if (shots.length > 0) writeShotIndex();
  for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
  for (const child of commands.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
  }
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
  }
  await ws?.close();
  gpg?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A fresh Chromium with its own profile; closed in `after` whatever happens. */
async function browser(javaScriptEnabled: boolean): Promise<BrowserContext> {
  const profile = mkdtempSync(join(work, 'profile-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    javaScriptEnabled,
    acceptDownloads: true,
    viewport: { width: 1100, height: 900 },
    timeout: 60_000,
  });
  contexts.push(ctx);
  ctx.setDefaultTimeout(15_000);
  return ctx;
}

/** A page that fails the test on a script error, a dialog (an injected alert) or a CSP violation. */
async function watchedPage(ctx: BrowserContext, problems: string[]): Promise<Page> {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  return page;
}

/** Screenshots taken in this run, with what each shows, for test-artifacts/web/index.html. */
const shots: Array<{ name: string; title: string; url: string }> = [];

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  shots.push({ name, title: await page.title(), url: page.url().replace(base, '') });
}

/** An index of the screenshots, to look through after a run. */
function writeShotIndex(): void {
  const esc = (t: string) => t.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const items = shots.map((s) => `<figure><figcaption>${esc(s.name)}: ${esc(s.title)} <code>${esc(s.url)}</code></figcaption><img src="${esc(s.name)}.png" alt="${esc(s.title)}" width="550"></figure>`);
  writeFileSync(join(ARTIFACTS, 'index.html'), `<!doctype html><html lang="en"><meta charset="utf-8"><title>Web page screenshots</title><h1>Web page screenshots (${new Date().toISOString()})</h1>\n${items.join('\n')}\n</html>\n`);
}

async function search(page: Page, q: string): Promise<void> {
  await page.getByLabel('Search keys').fill(q);
  await Promise.all([page.waitForURL(/\/(search|key\/)/), page.getByRole('button', { name: 'Search' }).click()]);
}

/** Every form control has a label, one h1, headings in order, one of each landmark, and the language is set. */
async function assertAccessible(page: Page): Promise<void> {
  const unlabelled = await page.$$eval('input:not([type=hidden]):not([type=submit]), textarea, select', (els) =>
    els.filter((e) => ((e as unknown as { labels: { length: number } | null }).labels?.length ?? 0) === 0).map((e) => e.outerHTML),
  );
  assert.deepEqual(unlabelled, []);
  assert.equal(await page.locator('h1').count(), 1);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  // One of each landmark, as the accessibility tree sees them.
  for (const role of ['banner', 'navigation', 'search', 'main', 'contentinfo'] as const) assert.equal(await page.getByRole(role).count(), 1, role);
  // Headings do not skip a level.
  const levels = await page.$$eval('h1, h2, h3, h4', (hs) => hs.map((h) => Number(h.tagName.slice(1))));
  for (let i = 1; i < levels.length; i++) assert.ok(levels[i] <= levels[i - 1] + 1, `heading levels ${levels.join(' ')}`);
}

describe('the web pages in Chromium, with JavaScript', { timeout: 180_000 }, () => {
  let ctx: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    ctx = await browser(true);
    page = await watchedPage(ctx, problems);
  });

  test('home: the search box, and the hint the script adds as one types', async () => {
    await page.goto(`${base}/`);
    assert.match(await page.title(), /Search · Monkeysphere keyserver/);
    await assertAccessible(page);
    await page.getByLabel('Search keys').fill('ssh://host.example.org');
    assert.match((await page.locator('#q-hint').textContent()) ?? '', /host key of this SSH server/);
    await page.getByLabel('Search keys').fill(people.bob.primary.keyId);
    assert.match((await page.locator('#q-hint').textContent()) ?? '', /key ID/);
    await shot(page, 'home');
  });

  test('search by e-mail', async () => {
    await search(page, 'alice@example.org');
    await page.getByRole('heading', { name: 'Results' }).waitFor();
    assert.equal(await page.locator('ol.results > li').count(), 1);
    assert.ok(await page.locator(`a[href="/key/${people.alice.fpr}"]`).isVisible());
    await assertAccessible(page);
    await shot(page, 'search-email');
  });

  test('search by ssh://host', async () => {
    await search(page, 'ssh://host.example.org');
    assert.equal(await page.locator('ol.results > li').count(), 1);
    assert.ok(await page.locator(`a[href="/key/${people.host.fpr}"]`).isVisible());
    assert.match((await page.locator('main').textContent()) ?? '', /exact user ID/);
    await shot(page, 'search-ssh-host');
  });

  test('search by key ID', async () => {
    await search(page, `0x${people.bob.primary.keyId}`);
    assert.equal(await page.locator('ol.results > li').count(), 1);
    assert.ok(await page.locator(`a[href="/key/${people.bob.fpr}"]`).isVisible());
    await shot(page, 'search-keyid');
  });

  test('the key page: certifications verified, unknown issuer, attested; subkey capabilities; download', async () => {
    await search(page, 'alice@example.org');
    await Promise.all([page.waitForURL(`**/key/${people.alice.fpr}`), page.locator(`a[href="/key/${people.alice.fpr}"]`).first().click()]);
    await assertAccessible(page);
    const uid = page.locator('section.uid', { has: page.getByRole('heading', { name: /Alice <alice@example\.org>/ }) });
    const bobRow = uid.locator('tr', { has: page.locator(`a[href="/key/${people.bob.fpr}"]`) });
    assert.match((await bobRow.textContent()) ?? '', /Bob <bob@example\.org>/);
    assert.ok(await bobRow.locator('.badge', { hasText: 'verified' }).isVisible());
    assert.ok(await bobRow.locator('.badge', { hasText: 'attested' }).isVisible());
    const carolRow = uid.locator('tr', { hasText: `0x${people.carol.primary.keyId}` });
    assert.ok(await carolRow.locator('.badge', { hasText: 'issuer unknown' }).isVisible());
    assert.match((await carolRow.textContent()) ?? '', /not on this server/);
    assert.match((await page.locator('table').last().textContent()) ?? '', /authenticate/);
    // The issuer link leads to Bob's page.
    await shot(page, 'key-alice');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /Download the key/ }).click()]);
    assert.equal(download.suggestedFilename(), `${people.alice.fpr}.asc`);
    const saved = join(work, 'alice.asc');
    await download.saveAs(saved);
    const armored = (await import('node:fs')).readFileSync(saved, 'utf8');
    assert.match(armored, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    await Promise.all([page.waitForURL(`**/key/${people.bob.fpr}`), bobRow.locator(`a[href="/key/${people.bob.fpr}"]`).click()]);
    assert.match(await page.title(), new RegExp(`Key 0x${people.bob.primary.keyId}`));
  });

  test('badges: a revoked key; a flooded certificate stays short', async () => {
    await page.goto(`${base}/key/${people.revoked.fpr}`);
    assert.ok(await page.locator('h1 .badge', { hasText: 'revoked' }).isVisible());
    await shot(page, 'key-revoked');
    await page.goto(`${base}/key/${people.flooded.fpr}`);
    assert.ok((await page.locator('section.uid tbody tr').count()) <= 50);
    assert.match((await page.locator('main').textContent()) ?? '', /151 more certifications are not listed/);
    await shot(page, 'key-flooded');
  });

  test('hostile user IDs: no script runs, the override is shown as a mark, lookalikes flagged', async () => {
    await page.goto(`${base}/key/${people.mallory.fpr}`);
    const main = (await page.locator('main').textContent()) ?? '';
    assert.ok(main.includes('<script>alert("x")</script> Mallory'), 'the markup is shown as text');
    assert.ok(main.includes('U+202Egro.elpmaxe@yrollam'));
    assert.ok(!main.includes('\u202E'));
    assert.ok(await page.locator('.badge', { hasText: 'mixed scripts: Latin + Cyrillic' }).isVisible());
    assert.equal(await page.locator('main script').count(), 0);
    await shot(page, 'key-hostile');
  });

  test('upload through the form: a pasted key and a key file, then the report', async () => {
    await page.goto(`${base}/upload`);
    await assertAccessible(page);
    await page.getByLabel(/Paste an ASCII-armored public key/).fill(keys.host.armored);
    const file = join(work, 'gina.gpg');
    writeFileSync(file, keys.gina.bytes);
    await page.getByLabel(/choose a key file/).setInputFiles(file);
    await shot(page, 'upload-form');
    await Promise.all([page.waitForURL(`${base}/upload`), page.getByRole('button', { name: 'Upload' }).click()]);
    await page.getByRole('heading', { name: 'Upload report' }).waitFor();
    assert.match((await page.locator('[role=status]').textContent()) ?? '', /2 certificates: 2 new\./);
    // The pasted host key came first: Gina's certification waited for her key, which came in the file.
    const report = (await page.locator('main').textContent()) ?? '';
    assert.match(report, /Held aside: 1 certification by issuers not on this server/);
    assert.match(report, /Released: 1 held certification on other keys/);
    assert.ok(await page.locator(`a[href="/key/${keys.host.fpr}"]`).isVisible());
    assert.ok(await page.locator(`a[href="/key/${keys.gina.fpr}"]`).isVisible());
    assert.match((await page.locator('main').textContent()) ?? '', /ssh:\/\/gpghost\.example\.org/);
    await shot(page, 'upload-report');
    // gpg's certification of the host verifies now that Gina's key is here too.
    await page.locator(`a[href="/key/${keys.host.fpr}"]`).click();
    await page.waitForURL(`**/key/${keys.host.fpr}`);
    const row = page.locator('tr', { has: page.locator(`a[href="/key/${keys.gina.fpr}"]`) });
    assert.ok(await row.locator('.badge', { hasText: 'verified' }).isVisible());
    assert.match((await page.locator('table').last().textContent()) ?? '', /authenticate/);
    assert.match((await page.locator('table').last().textContent()) ?? '', /2025-01-1[45]/, "the subkey expires in two years");
    await shot(page, 'key-gpg-host');
    // And gpg's host is found by its ssh:// user ID.
    await search(page, 'ssh://gpghost.example.org');
    assert.ok(await page.locator(`a[href="/key/${keys.host.fpr}"]`).isVisible());
  });

  test('keyboard: the first Tab reaches the skip link, which shows itself; dark colours follow the system', async () => {
    await page.goto(`${base}/key/${people.alice.fpr}`);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.className'), 'skip');
    const box = await page.locator('a.skip').boundingBox();
    assert.ok(box && box.x >= 0 && box.y >= 0, 'the focused skip link is on screen');
    await page.emulateMedia({ colorScheme: 'dark' });
    const bg = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    assert.equal(bg, 'rgb(13, 17, 23)');
    await shot(page, 'key-alice-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test('stats: the count and the recent changes', async () => {
    await page.goto(`${base}/stats`);
    await assertAccessible(page);
    const count = await ws!.store.certs.count();
    assert.equal((await page.locator('#cert-count').textContent())?.trim(), String(count));
    // Newest first: Gina's key released the held certification into the host's, after both were new.
    const rows = await page.locator('tbody tr').allTextContents();
    assert.match(rows[0], /updated[\s\S]*ssh:\/\/gpghost\.example\.org/);
    assert.match(rows[1], /new[\s\S]*Gina Gpg <gina@example\.org>/);
    assert.match(rows[2], /new[\s\S]*ssh:\/\/gpghost\.example\.org/);
    assert.ok(await page.locator(`tbody a[href="/key/${keys.gina.fpr}"]`).isVisible());
    await shot(page, 'stats');
  });

  test('a flooded certificate uploaded as a file: the report shows what was held and what the budget dropped', async () => {
    const fred = new Person(['Fred Flood <fred@flood.example>']);
    flood(fred, people.mallory, 2000);
    const file = join(work, 'fred.gpg');
    writeFileSync(file, writeCert(fred.cert));
    await page.goto(`${base}/upload`);
    await page.getByLabel(/choose a key file/).setInputFiles(file);
    await Promise.all([page.waitForURL(`${base}/upload`), page.getByRole('button', { name: 'Upload' }).click()]);
    const report = (await page.locator('main').textContent()) ?? '';
    assert.match(report, /1 certificate: 1 new\./);
    assert.match(report, /Held aside: 100 certifications by issuers not on this server/);
    const dropped = page.locator('table', { has: page.locator('caption', { hasText: 'Dropped' }) });
    assert.match((await dropped.textContent()) ?? '', /over budget\s*1900/);
    await shot(page, 'upload-flood-report');
    await page.goto(`${base}/key/${fred.fpr}`);
    assert.match((await page.locator('dl.facts').textContent()) ?? '', /Held aside\s*100 certifications/);
    assert.match((await page.locator('main').textContent()) ?? '', /No third-party certifications\./);
  });

  test('no script errors, dialogs or policy violations on any page', () => {
    assert.deepEqual(problems, []);
  });
});

describe('the web pages in Chromium, without JavaScript', { timeout: 120_000 }, () => {
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    page = await watchedPage(await browser(false), problems);
  });

  test('search and key pages work; no hint appears', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('Search keys').fill('ssh://host.example.org');
    assert.equal((await page.locator('#q-hint').textContent()) ?? '', '');
    await Promise.all([page.waitForURL(/\/search\?q=/), page.getByLabel('Search keys').press('Enter')]);
    assert.equal(await page.locator('ol.results > li').count(), 1);
    await shot(page, 'nojs-search');
    await Promise.all([page.waitForURL(`**/key/${people.host.fpr}`), page.locator(`a[href="/key/${people.host.fpr}"]`).first().click()]);
    const row = page.locator('tr', { has: page.locator(`a[href="/key/${people.alice.fpr}"]`) });
    assert.ok(await row.locator('.badge', { hasText: 'verified' }).isVisible());
    await shot(page, 'nojs-key-host');
  });

  test('a fingerprint search goes straight to the key page', async () => {
    await page.goto(`${base}/search?q=${people.bob.fpr}`);
    assert.equal(page.url(), `${base}/key/${people.bob.fpr}`);
  });

  test('upload works without JavaScript too', async () => {
    await page.goto(`${base}/upload`);
    const carol = readCerts(people.carol.bytes).certs[0];
    const { armor } = await import('../../src/openpgp/armor.js');
    await page.getByLabel(/Paste an ASCII-armored public key/).fill(armor('PUBLIC KEY BLOCK', people.carol.bytes));
    await Promise.all([page.waitForURL(`${base}/upload`), page.getByRole('button', { name: 'Upload' }).click()]);
    assert.match((await page.locator('[role=status]').textContent()) ?? '', /1 certificate: 1 new\./);
    assert.ok(await page.locator(`a[href="/key/${carol.primary.fpr}"]`).isVisible());
    await shot(page, 'nojs-upload-report');
  });

  test('no errors', () => {
    assert.deepEqual(problems, []);
  });
});

/** `monkeysphere-keyserver serve` as a process of its own, on a store in `work`; resolves with its base URL. */
async function serveCommand(store: string): Promise<{ child: ChildProcess; base: string }> {
  const root = new URL('../../', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/hkp/run-keyserver.ts'), 'serve', '--listen', '127.0.0.1:0', '--store', `sqlite:${store}`], {
    env: { ...process.env, MONKEYSPHERE_TEST_NOW: String(NOW), MONKEYSPHERE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  commands.push(child);
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving HKP on (http:\/\/[^/]+)\//.exec(err);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, base: url };
}

describe('the shipped command in Chromium, then gpg', { timeout: 180_000 }, () => {
  test('a key uploaded through the web form of `monkeysphere-keyserver serve` is found on its pages and fetched by gpg --recv-keys', async () => {
    const { base: url } = await serveCommand(join(work, 'command.sqlite'));
    const problems: string[] = [];
    const page = await watchedPage(await browser(true), problems);
    await page.goto(`${url}/upload`);
    await page.getByLabel(/Paste an ASCII-armored public key/).fill(keys.host.armored);
    const file = join(work, 'gina-command.gpg');
    writeFileSync(file, keys.gina.bytes);
    await page.getByLabel(/choose a key file/).setInputFiles(file);
    await Promise.all([page.waitForURL(`${url}/upload`), page.getByRole('button', { name: 'Upload' }).click()]);
    assert.match((await page.locator('[role=status]').textContent()) ?? '', /2 certificates: 2 new\./);
    await page.getByLabel('Search keys').fill('ssh://gpghost.example.org');
    await Promise.all([page.waitForURL(/\/search\?q=/), page.getByRole('button', { name: 'Search' }).click()]);
    await Promise.all([page.waitForURL(`**/key/${keys.host.fpr}`), page.locator(`a[href="/key/${keys.host.fpr}"]`).first().click()]);
    const row = page.locator('tr', { has: page.locator(`a[href="/key/${keys.gina.fpr}"]`) });
    assert.ok(await row.locator('.badge', { hasText: 'verified' }).isVisible());
    await shot(page, 'command-key-gpg-host');
    assert.deepEqual(problems, []);

    // gpg, in a home of its own, fetches what the form stored, with Gina's certification.
    const fetcher = new GpgHome(NOW);
    try {
      writeFileSync(join(fetcher.dir, 'dirmngr.conf'), `keyserver hkp://${url.slice('http://'.length)}\n`);
      // gpg 2.2 keeps third-party certifications from a keyserver only when asked to.
      fetcher.ok(['--keyserver-options', 'no-self-sigs-only,no-import-clean', '--recv-keys', keys.gina.fpr, keys.host.fpr]);
      const sigs = fetcher.colons(['--check-sigs', keys.host.fpr]);
      assert.ok(sigs.some((r) => r[0] === 'sig' && r[1] === '!' && r[12] === keys.gina.fpr), "gpg checks Gina's certification good");
    } finally {
      fetcher.cleanup();
    }
  });
});
