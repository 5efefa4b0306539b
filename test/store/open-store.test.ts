/**
 * openStore (src/store/index.ts): a path opens the SQLite store with the options given; a
 * PostgreSQL URL is recognised as one (the PostgreSQL store runs the same conformance suite in
 * postgres.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EnvironmentError } from '../../src/errors.js';
import { isPostgresUrl, openStore } from '../../src/store/index.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import { fixture, INDEX, NOW } from './cert-store.suite.js';

const root = mkdtempSync(join(tmpdir(), 'ms-open-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('openStore', () => {
  test('a path is a SQLite file, created, migrated, then readable read-only', async () => {
    const path = join(root, 'a.sqlite');
    const store = await openStore(path, { journal: 'rollback', busyTimeoutMs: 100 });
    assert.ok(store instanceof SqliteStore);
    assert.equal(store.location, path);
    assert.equal(store.readonly, false);
    assert.equal(store.database.db.pragma('journal_mode', { simple: true }), 'delete');
    assert.equal(store.database.db.pragma('busy_timeout', { simple: true }), 100);
    await store.certs.put(fixture('alice.pgp'), NOW);
    await store.close();
    const ro = await openStore(path, { readonly: true });
    try {
      assert.equal(ro.readonly, true);
      assert.ok(await ro.certs.get(INDEX.alice.fpr));
    } finally {
      await ro.close();
    }
  });

  test('a read-only open of a missing file fails, creating nothing', async () => {
    await assert.rejects(openStore(join(root, 'absent.sqlite'), { readonly: true }), (err: unknown) => err instanceof EnvironmentError && err.code === 'MS_STORE_IO');
  });

  test('PostgreSQL URLs are told from paths', () => {
    for (const url of ['postgres://u@localhost/db', 'postgresql:///db?host=/tmp', 'POSTGRES://h/db']) assert.equal(isPostgresUrl(url), true, url);
    for (const path of ['/var/lib/monkeysphere/store.sqlite', 'postgres.sqlite', './postgres://x', 'file:postgres']) assert.equal(isPostgresUrl(path), false, path);
  });
});
