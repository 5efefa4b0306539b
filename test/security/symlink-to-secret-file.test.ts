/**
 * Attack: a local user points their own files at a file only root may read, hoping
 * update-users (which runs as root) copies it into a file they can read, or sends its
 * lines to the keyserver as searches. Users' files are read with the user's privileges,
 * as sshd reads them, and only valid authorized_keys lines reach the output; symlinks
 * among the user's own files keep working, as in 0.43.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt } from '../auth/harness.js';
import { Person } from '../auth/pki.js';
import { authorizedKeysOf, LocalUser, userServer } from './local-user.js';

const BOB = 'Bob <bob@example.net>';
const SECRET_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl root-only-secret';
const SECRET_UID = 'Secret Person <secret@example.org>';

/** An HKP server that records every request and knows no keys. */
async function recordingKeyserver(): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const srv: Server = createServer((req, res) => {
    requests.push(decodeURIComponent(req.url ?? ''));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  return { url: `hkp://127.0.0.1:${port}`, requests, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

before(() => ensureBuilt());

describe('a user symlinks their files to a root-only file', () => {
  const user = new LocalUser();
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const secret = user.secret('secret', `${SECRET_KEY}\n${SECRET_UID}\nroot:$y$j9T$notreallyahash:19000:0:99999:7:::\n`);
  let keyserver: Awaited<ReturnType<typeof recordingKeyserver>>;
  let server: ReturnType<typeof userServer>;

  before(async () => {
    keyserver = await recordingKeyserver();
    server = userServer({ MONKEYSPHERE_KEYSERVER: keyserver.url, MONKEYSPHERE_CHECK_KEYSERVER: 'true' });
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
  });
  after(async () => {
    await keyserver.close();
    server.cleanup();
    user.remove();
  });

  test('~/.ssh/authorized_keys -> root-only file: nothing of it is written, and the refusal is reported', async () => {
    user.write('.monkeysphere/authorized_user_ids', `${BOB}\n`);
    user.symlink('.ssh/authorized_keys', secret);
    const r = await server.run(['update-users', user.name]);
    assert.equal(r.status, 1, 'a refused file is a problem to report');
    assert.match(r.stderr, /authorized_keys': permission denied; not using/);
    const written = readFileSync(authorizedKeysOf(server, user), 'utf8');
    assert.ok(!written.includes('root-only-secret'));
    assert.ok(written.includes(bob.sshKey), "the user's Monkeysphere keys still count");
    const k = await server.run(['keys-for-user', user.name]);
    assert.ok(!k.stdout.includes('root-only-secret'));
  });

  test('the same with STRICT_MODES off: the kernel refuses, not our checks', async () => {
    const lax = userServer({ MONKEYSPHERE_STRICT_MODES: 'false' });
    try {
      await lax.ok(['setup']);
      user.symlink('.ssh/authorized_keys', secret);
      user.write('.monkeysphere/authorized_user_ids', `${BOB}\n`);
      await lax.run(['update-users', user.name]);
      const path = authorizedKeysOf(lax, user);
      assert.ok(!existsSync(path) || !readFileSync(path, 'utf8').includes('root-only-secret'));
    } finally {
      lax.cleanup();
    }
  });

  test('authorized_user_ids -> root-only file: its lines are never sent to the keyserver', async () => {
    user.write('.ssh/authorized_keys', '');
    user.symlink('.monkeysphere/authorized_user_ids', secret);
    keyserver.requests.length = 0;
    const r = await server.run(['update-users', user.name]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /authorized_user_ids': permission denied; not using/);
    assert.deepEqual(
      keyserver.requests.filter((q) => q.includes('secret') || q.includes('Secret') || q.includes('root:')),
      [],
    );
    assert.equal(keyserver.requests.length, 0, `no lookups at all: ${keyserver.requests.join(', ')}`);
    assert.ok(!existsSync(authorizedKeysOf(server, user)), 'nothing to grant, so no file');
  });

  test('~/.ssh/authorized_keys -> /etc/passwd (readable by the user): no line that is not a key reaches the output', async () => {
    user.write('.monkeysphere/authorized_user_ids', `${BOB}\n`);
    user.symlink('.ssh/authorized_keys', '/etc/passwd');
    const r = await server.run(['update-users', user.name]);
    assert.equal(r.status, 1);
    const written = readFileSync(authorizedKeysOf(server, user), 'utf8');
    assert.equal(written, `${bob.sshKey} ${written.split(' ')[2]} ${BOB}\n`);
    assert.ok(!written.includes('root:'));
  });

  test("symlinks among the user's own files keep working (relative, absolute, and ~/.monkeysphere itself)", async () => {
    const elsewhere = user.mkdir('dotfiles/monkeysphere');
    user.write('dotfiles/monkeysphere/ids', `${BOB}\n`);
    user.write('dotfiles/keys', `${SECRET_KEY.replace('root-only-secret', 'own-key')}\n`);
    user.symlink('.ssh/authorized_keys', '../dotfiles/keys');
    user.symlink('.monkeysphere', elsewhere);
    user.symlink('dotfiles/monkeysphere/authorized_user_ids', join(elsewhere, 'ids'));
    const r = await server.run(['update-users', user.name]);
    assert.equal(r.status, 0, r.stderr);
    const written = readFileSync(authorizedKeysOf(server, user), 'utf8');
    assert.ok(written.includes(bob.sshKey));
    assert.ok(written.includes('own-key'));
  });
});
