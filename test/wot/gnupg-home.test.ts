/**
 * src/gnupg/ as the user tool and the validation agent call it: the inputs of a trust
 * computation read from a real GnuPG home, and its web computed, then reused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cachedComputeOptions, computeGnupgWeb, openWebCache, parseOwnertrust, readGnupgHome } from '../../src/gnupg/index.js';
import { GpgHome } from '../helpers/gpg.js';
import { buildWeb, type GeneratedWeb } from '../helpers/webgen.js';

let web: GeneratedWeb;
let gpg: GpgHome;
let dir: string;
const fpr = (name: string) => web.keys.find((k) => k.name === name)!.fpr;

before(() => {
  web = buildWeb({
    keys: [
      { name: 'alice', uids: ['alice <alice@example.com>'], ownertrust: 6 },
      { name: 'bob', uids: ['bob <bob@example.com>'] },
    ],
    certs: [{ issuer: 'alice', target: 'bob' }],
  });
  gpg = new GpgHome(web.now, 'marginals-needed 2\nmax-cert-depth 3\n');
  gpg.ok(['--import'], web.bytes);
  gpg.ok(['--import-ownertrust'], web.ownertrustText);
  dir = mkdtempSync(join(tmpdir(), 'ms-gnupg-home-'));
});
after(() => {
  gpg.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('readGnupgHome', () => {
  it("reads gpg.conf's trust settings and gpg's ownertrust", () => {
    const warnings: string[] = [];
    const inputs = readGnupgHome(gpg.dir, { env: process.env, onWarning: (m) => warnings.push(m) });
    assert.equal(inputs.settings.marginalsNeeded, 2);
    assert.equal(inputs.settings.maxCertDepth, 3);
    // No trusted-key lines (cli.test.ts reads them): alice is a root through her ownertrust.
    assert.deepEqual(inputs.roots, []);
    assert.deepEqual(warnings, []);
    assert.deepEqual(inputs.ownertrust, parseOwnertrust(web.ownertrustText));
  });
});

describe('computeGnupgWeb', () => {
  it('computes the web of the home, then reuses its snapshot while the home is unchanged', async () => {
    const cache = await openWebCache(join(dir, 'cache.sqlite'));
    try {
      const opts = { env: process.env, ...cachedComputeOptions(cache) };
      const first = await computeGnupgWeb(gpg.dir, web.now, opts);
      assert.equal(first.from, 'packets');
      assert.equal(first.network.validity(fpr('bob'), 'bob <bob@example.com>'), 'f');
      const again = await computeGnupgWeb(gpg.dir, web.now, opts);
      assert.equal(again.from, 'snapshot');
      assert.equal(again.network.validity(fpr('bob'), 'bob <bob@example.com>'), 'f');
    } finally {
      await cache.close();
    }
  });
});

describe('openWebCache', () => {
  it('a damaged cache file is moved aside and made anew, not silently skipped on every run', async () => {
    const path = join(dir, 'damaged.sqlite');
    const junk = randomBytes(8192);
    writeFileSync(path, junk);
    const warnings: string[] = [];
    const cache = await openWebCache(path, (m) => warnings.push(m));
    try {
      assert.ok(cache.store, 'a working cache');
      assert.deepEqual(readFileSync(`${path}.damaged`), junk);
      assert.match(warnings.join('\n'), /was damaged .* made anew/);
      await cache.store.meta.setMeta('probe', '1');
    } finally {
      await cache.close();
    }
    const again = await openWebCache(path);
    assert.equal(await again.store?.meta.getMeta('probe'), '1');
    await again.close();
    assert.ok(existsSync(path));
  });
});
