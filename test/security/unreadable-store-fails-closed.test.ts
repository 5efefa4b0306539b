/**
 * sshd's AuthorizedKeysCommand running as an account that cannot read the store (a
 * misconfigured AuthorizedKeysCommandUser) fails closed: no keys, a non-zero exit, and
 * a message that says the store is unreadable and for whom, not that it does not exist.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuthServer, ensureBuilt } from '../auth/harness.js';

const ROOT = new URL('../../', import.meta.url).pathname;

test('keys-for-user as nobody, with the store under a directory nobody cannot enter', async (t) => {
  ensureBuilt();
  const server = new AuthServer();
  try {
    await server.ok(['setup']);
    const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
    // The store lives under root's home (0700), which nobody cannot enter; the configuration is readable.
    const etc = mkdtempSync('/var/lib/ms-security-etc-');
    chmodSync(etc, 0o755);
    t.after(() => rmSync(etc, { recursive: true, force: true }));
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/monkeysphere-authentication-keys-for-user.js'), 'root'], {
      env: { ...server.env, MONKEYSPHERE_SYSCONFIGDIR: etc },
      uid: nobody,
      gid: nobody,
      cwd: '/',
      encoding: 'utf8',
    });
    assert.equal(r.status, 4, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /cannot read the store .* as uid \d+: permission denied/);
    assert.doesNotMatch(r.stderr, /does not exist/);
  } finally {
    server.cleanup();
  }
});
