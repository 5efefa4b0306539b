/**
 * The login path without root: a real sshd runs keys-for-user as
 * `AuthorizedKeysCommandUser monkeysphere`, which reads the store through its group and
 * can neither write nor corrupt it. Logins succeed and fail exactly as with root; the
 * store's bytes are untouched by that account; an account that cannot read the store
 * fails closed with one line naming the path, the uid and the fix.
 * The server lives outside /root (the monkeysphere user must reach it) and runs a
 * root-owned copy of the program, as scripts/setup.sh installs it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuthStore } from '../../src/auth/store.js';
import { AuthServer, ensureBuilt, installCopy, monkeysphereAccount, SHARED_BASE as BASE } from './harness.js';
import { NOW, Person } from './pki.js';

const BOB = 'Bob <bob@example.net>';
const MALLORY = 'Mallory <mallory@example.net>';

function digest(path: string): string {
  return `${createHash('sha256').update(readFileSync(path)).digest('hex')} ${statSync(path).mtimeMs}`;
}

/** Files under `dir` owned by `uid`. */
function ownedBy(dir: string, uid: number): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (statSync(p).uid === uid) out.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

describe('AuthorizedKeysCommandUser monkeysphere', () => {
  let account: { uid: number; gid: number };
  let server: AuthServer;
  const program = join(BASE, `program-${process.pid}`);
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const bobRsa = new Person(['Bob RSA <bob-rsa@example.net>'], { alg: 'rsa' }).certifiedBy(admin, 'Bob RSA <bob-rsa@example.net>');
  const mallory = new Person([MALLORY]);

  before(async () => {
    ensureBuilt();
    account = monkeysphereAccount();
    installCopy(program);
    server = new AuthServer({ MONKEYSPHERE_MONKEYSPHERE_USER: 'monkeysphere' }, { base: BASE, programRoot: program });
    await server.ok(['setup']);
    await server.addCertifier(admin);
    for (const p of [bob, bobRsa, mallory]) await server.importCert(p);
    server.writeUserIds(`${BOB}\nBob RSA <bob-rsa@example.net>\n${MALLORY}\n`);
  });
  after(() => {
    server.cleanup();
    rmSync(program, { recursive: true, force: true });
    for (const p of [admin, bob, bobRsa, mallory]) p.cleanup();
  });

  const store = () => join(server.dataDir, 'authentication', 'store.sqlite');

  test('the store is readable by the monkeysphere group only, in rollback-journal mode', () => {
    const st = statSync(store());
    assert.equal(st.mode & 0o777, 0o640);
    assert.equal(st.gid, account.gid);
    // SQLite's header: bytes 18 and 19 are 1 for a rollback journal, 2 for WAL.
    const header = readFileSync(store()).subarray(18, 20);
    assert.deepEqual([...header], [1, 1]);
  });

  test('logins succeed and fail as with root, and the account writes nothing', async () => {
    const cases = [
      [bob, true, 'Bob (Ed25519, certified)'],
      [bobRsa, true, 'Bob (RSA, certified)'],
      [mallory, false, 'Mallory (uncertified)'],
    ] as const;
    const before = digest(store());
    const unprivileged: number[] = [];
    for (const [person, ok, what] of cases) {
      const r = await server.login('command', person, 'true', { commandUser: 'monkeysphere' });
      assert.equal(r.status, ok ? 0 : 255, `${what} as monkeysphere\n${r.sshdLog}`);
      unprivileged.push(r.status);
    }
    assert.equal(digest(store()), before, 'the store is untouched');
    assert.deepEqual(ownedBy(server.dataDir, account.uid), [], 'the monkeysphere account made no file');
    for (const [i, [person, , what]] of cases.entries()) {
      const r = await server.login('command', person, 'true', { commandUser: 'root' });
      assert.equal(r.status, unprivileged[i], `${what}: root answers the same`);
    }
  });

  test('a revocation imported by root refuses the next login', async () => {
    bob.revokeKey(NOW - 3600);
    await server.importCert(bob);
    const r = await server.login('command', bob, 'true', { commandUser: 'monkeysphere' });
    assert.equal(r.status, 255);
  });

  test('bindings gone stale are computed in memory, never written', async () => {
    // Root stores a new certification without recomputing: the stored bindings are stale.
    mallory.certifiedBy(admin);
    const writer = await AuthStore.open(store());
    await writer.putCerts([mallory.cert], NOW);
    await writer.close();
    const before = digest(store());
    const r = spawnSync('runuser', ['-u', 'monkeysphere', '--', server.wrapper(), 'root']);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.ok(r.stdout.toString().includes(mallory.sshKey), `Mallory's key, newly certified, in:\n${r.stdout}`);
    assert.equal(digest(store()), before, 'the store is untouched');
  });

  test('sshd refuses a login when the store is unreadable, and the log line says why', async () => {
    const mode = statSync(store()).mode & 0o777;
    chmodSync(store(), 0o600);
    try {
      server.env.MONKEYSPHERE_LOGIN_LOG = 'stderr';
      const r = await server.login('command', bobRsa, 'true', { commandUser: 'monkeysphere', tokens: '%u %f' });
      assert.equal(r.status, 255, 'refused');
      // sshd logs what the command says on stderr: the refusal with its reason, then the error.
      const why = `cannot read the store "${store()}" as uid ${account.uid}: permission denied \\(the store is mode 0600, owner uid 0, group gid ${account.gid}\\); fix: run 'monkeysphere-authentication setup' as root`;
      assert.match(r.sshdLog, new RegExp(`monkeysphere-authentication: refused SHA256:\\S+ for "root": ${why}`), r.sshdLog);
      assert.match(r.sshdLog, new RegExp(`monkeysphere-authentication-keys-for-user: error: ${why}`), r.sshdLog);
      assert.match(r.sshdLog, /AuthorizedKeysCommand .* failed, status 4/);
    } finally {
      delete server.env.MONKEYSPHERE_LOGIN_LOG;
      chmodSync(store(), mode);
    }
    // Readable again, the same key logs in.
    assert.equal((await server.login('command', bobRsa, 'true', { commandUser: 'monkeysphere' })).status, 0);
  });

  test('an account that cannot read the store fails closed, naming the path, the uid and the fix', () => {
    const r = spawnSync('runuser', ['-u', 'nobody', '--', server.wrapper(), 'root']);
    assert.equal(r.status, 4);
    assert.equal(r.stdout.length, 0, 'no keys');
    const err = r.stderr.toString();
    assert.match(err, /monkeysphere-authentication-keys-for-user: error: cannot read the store ".*store\.sqlite" as uid 65534: permission denied: cannot enter the directory ".*\/authentication" \(mode 0750, owner uid 0, group gid \d+\); fix: let uid 65534 enter every directory above the store/);
    assert.match(err, /hint: run it as AuthorizedKeysCommandUser monkeysphere/);
  });
});
