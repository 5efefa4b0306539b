/**
 * scripts/setup.sh's root-owned install, as sshd needs it: the AuthorizedKeysCommand and
 * every directory above it root-owned and not group- or world-writable (sshd's safe_path),
 * nothing run from the checkout, the monkeysphere account present, a second run a no-op;
 * and a real sshd running the installed command as AuthorizedKeysCommandUser monkeysphere.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Sshd } from '../helpers/sshd.js';
import { AuthServer, ensureBuilt, monkeysphereAccount, SHARED_BASE } from './harness.js';
import { Person } from './pki.js';

const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const KFU = 'monkeysphere-authentication-keys-for-user';
const BOB = 'Bob <bob@example.net>';
const MALLORY = 'Mallory <mallory@example.net>';

/** Runs setup.sh's link step (which installs, as root) with `env`. */
function linkCommands(env: Record<string, string>): { status: number | null; stderr: string } {
  const r = spawnSync('bash', ['-c', 'source scripts/setup.sh && link_commands'], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** What sshd's safe_path refuses on the way from `file` up to /: not root-owned, or group/world-writable. */
function unsafeForSshd(file: string): string[] {
  const bad: string[] = [];
  for (let p = realpathSync(file); ; p = dirname(p)) {
    const st = statSync(p);
    if (st.uid !== 0 || (st.mode & 0o022) !== 0) bad.push(`${p} uid ${st.uid} mode 0${(st.mode & 0o7777).toString(8)}`);
    if (p === '/') return bad;
  }
}

/** Files under `dir` that are not root-owned or that group or others may write. */
function unsafeFiles(dir: string): string[] {
  const bad: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath ?? e.path, e.name);
    const st = lstatSync(p);
    if (st.uid !== 0 || (!st.isSymbolicLink() && (st.mode & 0o022) !== 0)) bad.push(p);
  }
  return bad;
}

describe('setup.sh installs a root-owned copy that sshd runs as monkeysphere', () => {
  const prefix = join(SHARED_BASE, `prefix-${process.pid}`);
  const binDir = join(SHARED_BASE, `bin-${process.pid}`);
  const env = { MS_PREFIX: prefix, MS_BIN_DIR: binDir };
  const link = join(binDir, KFU);
  let first: { status: number | null; stderr: string };
  let server: AuthServer;
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const mallory = new Person([MALLORY]);

  before(async () => {
    ensureBuilt();
    monkeysphereAccount();
    first = linkCommands(env);
    server = new AuthServer({ MONKEYSPHERE_MONKEYSPHERE_USER: 'monkeysphere' }, { base: SHARED_BASE });
    await server.ok(['setup']);
    await server.addCertifier(admin);
    for (const p of [bob, mallory]) await server.importCert(p);
    server.writeUserIds(`${BOB}\n${MALLORY}\n`);
  });
  after(() => {
    server.cleanup();
    for (const p of [prefix, binDir]) rmSync(p, { recursive: true, force: true });
    for (const p of [admin, bob, mallory]) p.cleanup();
  });

  test('the commands link into the root-owned copy, never into the checkout', () => {
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, new RegExp(`install: root-owned copy in ${prefix}`));
    assert.doesNotMatch(first.stderr, /warning/, 'node itself is root-owned');
    assert.equal(readlinkSync(link), join(prefix, 'sbin', KFU));
    for (const name of readdirSync(binDir)) assert.ok(realpathSync(join(binDir, name)).startsWith(`${prefix}/`), `${name} runs from the copy`);
    // The wrapper names node by its absolute path (sshd gives the command no useful PATH) and the copy's script.
    const wrapper = readFileSync(link, 'utf8');
    assert.ok(wrapper.includes(join(prefix, 'bin', `${KFU}.js`)), wrapper);
    assert.ok(!wrapper.includes(ROOT), wrapper);
    assert.equal(spawnSync('getent', ['passwd', 'monkeysphere']).status, 0, 'the monkeysphere account exists');
  });

  test("the command passes sshd's ownership checks, and so does every file of the copy", () => {
    assert.deepEqual(unsafeForSshd(link), []);
    assert.deepEqual(unsafeFiles(prefix), []);
    assert.equal(statSync(prefix).mode & 0o777, 0o755);
  });

  test('the copy runs each command from its one-file bundle, with a code cache that the installed node accepts', () => {
    const bundles = readdirSync(join(prefix, 'dist', 'bundle'));
    assert.ok(bundles.includes(`${KFU}.cjs`) && bundles.includes('launch.cjs'), bundles.join(' '));
    // As sshd runs it: the wrapper, as monkeysphere, with no environment.
    const r = spawnSync('runuser', ['-u', 'monkeysphere', '--', '/usr/bin/env', '-i', link, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^usage: ${KFU} USER`));
    const check = spawnSync(readFileSync(link, 'utf8').match(/^exec (\S+)/m)![1].replace(/^'|'$/g, ''), ['-e', 'process.exitCode = require(process.argv[1]).load(process.argv[2]).cached ? 0 : 1', join(prefix, 'dist/bundle/launch.cjs'), join(prefix, `dist/bundle/${KFU}.cjs`)], { env: {} });
    assert.equal(check.status, 0, 'the code cache is used');
  });

  test('a second run installs nothing', () => {
    const before = statSync(prefix).ino;
    const again = linkCommands(env);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`install: ${prefix} up to date`));
    assert.equal(statSync(prefix).ino, before, 'the same copy');
    assert.equal(readlinkSync(link), join(prefix, 'sbin', KFU));
  });

  test('MS_BIN_DIR=none neither links nor installs', () => {
    const other = join(SHARED_BASE, `prefix-none-${process.pid}`);
    const r = linkCommands({ MS_PREFIX: other, MS_BIN_DIR: 'none' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /commands: not linked \(MS_BIN_DIR=none\)/);
    assert.throws(() => statSync(other));
  });

  test('sshd runs the installed command as monkeysphere: a certified key logs in, an uncertified one does not', async () => {
    // sshd passes the command no environment; env(1) gives it the test server's paths.
    const vars = Object.entries(server.env)
      .filter(([k]) => k.startsWith('MONKEYSPHERE_'))
      .map(([k, v]) => `${k}=${v}`);
    const sshd = new Sshd({ config: ['AuthorizedKeysFile none', `AuthorizedKeysCommand /usr/bin/env ${vars.join(' ')} ${link} %u`, 'AuthorizedKeysCommandUser monkeysphere'] });
    try {
      await sshd.start();
      assert.equal(sshd.ssh(bob.identityFile(), 'true').status, 0, 'Bob, certified');
      assert.equal(sshd.ssh(mallory.identityFile(), 'true').status, 255, 'Mallory, not certified');
    } finally {
      await sshd.stop();
    }
  });
});
