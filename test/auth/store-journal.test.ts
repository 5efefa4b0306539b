/**
 * The store's journal and the unprivileged reader (sshd's AuthorizedKeysCommandUser
 * monkeysphere): a store still in WAL mode (written before rollback journals) and a write
 * interrupted by a crash cannot be read by an account that may not write; it fails closed
 * with one line naming the path, the uid, the cause and the fix, and the fix (setup, as
 * root) converts or recovers the store so the next login reads it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuthServer, ensureBuilt, monkeysphereAccount, SHARED_BASE } from './harness.js';
import { Person } from './pki.js';

const BETTER_SQLITE3 = new URL('../../node_modules/better-sqlite3', import.meta.url).pathname;
const BOB = 'Bob <bob@example.net>';

/** Runs a few lines of JavaScript as root with better-sqlite3 as `D` and the store's path as `p`. */
function sqlite(path: string, code: string): { status: number | null; signal: string | null } {
  const r = spawnSync(process.execPath, ['-e', `const D = require(${JSON.stringify(BETTER_SQLITE3)}); const p = ${JSON.stringify(path)}; ${code}`], { encoding: 'utf8' });
  return { status: r.status, signal: r.signal };
}

/** SQLite's header: bytes 18 and 19 are 1 for a rollback journal, 2 for WAL. */
function journalBytes(path: string): number[] {
  return [...readFileSync(path).subarray(18, 20)];
}

describe('the store journal and the unprivileged reader', () => {
  let account: { uid: number; gid: number };
  let server: AuthServer;
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const store = () => join(server.dataDir, 'authentication', 'store.sqlite');
  const asMonkeysphere = () => spawnSync('runuser', ['-u', 'monkeysphere', '--', server.wrapper(), 'root'], { encoding: 'utf8' });

  before(async () => {
    ensureBuilt();
    account = monkeysphereAccount();
    server = new AuthServer({ MONKEYSPHERE_MONKEYSPHERE_USER: 'monkeysphere' }, { base: SHARED_BASE });
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
    server.writeUserIds(`${BOB}\n`);
    const r = asMonkeysphere();
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(bob.sshKey), 'the reader answers before anything is broken');
  });
  after(() => {
    server.cleanup();
    for (const p of [admin, bob]) p.cleanup();
  });

  test('a WAL store is refused by the reader with the fix, and root converts it', async () => {
    assert.equal(sqlite(store(), `const db = new D(p); db.pragma('journal_mode = WAL'); db.close();`).status, 0);
    assert.deepEqual(journalBytes(store()), [2, 2]);
    const refused = asMonkeysphere();
    assert.equal(refused.status, 4);
    assert.equal(refused.stdout, '', 'no keys');
    assert.match(
      refused.stderr,
      new RegExp(`^monkeysphere-authentication-keys-for-user: error: cannot read the store ".*store\\.sqlite" as uid ${account.uid}: it uses a write-ahead log \\(WAL\\).*; fix: run 'monkeysphere-authentication setup' as root once`),
    );
    await server.ok(['setup']);
    assert.deepEqual(journalBytes(store()), [1, 1], 'a rollback journal again');
    assert.ok(!existsSync(`${store()}-wal`) && !existsSync(`${store()}-shm`));
    const r = asMonkeysphere();
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(bob.sshKey));
  });

  test('a write interrupted by a crash is refused by the reader until root rolls it back', async () => {
    // A root writer dies inside a transaction whose pages spilled into the file: a hot journal.
    const crash = sqlite(
      store(),
      `const db = new D(p); db.pragma('cache_size = 1'); db.exec('BEGIN IMMEDIATE; CREATE TABLE junk (x BLOB)');
       for (let i = 0; i < 200; i++) db.prepare('INSERT INTO junk VALUES (randomblob(4000))').run();
       process.kill(process.pid, 'SIGKILL');`,
    );
    assert.equal(crash.signal, 'SIGKILL');
    assert.ok(existsSync(`${store()}-journal`), 'a journal was left behind');
    const refused = asMonkeysphere();
    assert.equal(refused.status, 4);
    assert.equal(refused.stdout, '', 'no keys');
    assert.match(refused.stderr, new RegExp(`cannot read the store ".*store\\.sqlite" as uid ${account.uid}: an interrupted write must be rolled back first .*; fix: run any monkeysphere-authentication command as root`));
    await server.ok(['setup']);
    assert.ok(!existsSync(`${store()}-journal`), 'rolled back');
    const r = asMonkeysphere();
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(bob.sshKey));
    assert.equal(sqlite(store(), `const db = new D(p, { readonly: true }); process.exit(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'junk'").get().n);`).status, 0, 'the interrupted write is gone');
  });
});
