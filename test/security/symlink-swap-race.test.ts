/**
 * Attack: the permission check races the read. A local user flips a symlink between a
 * harmless file of their own and a root-only secret as fast as they can while
 * update-users and keys-for-user run, hoping the check sees the harmless file and the
 * read the secret. What is judged is the opened descriptor, opened as the user, so no
 * interleaving leaks the secret.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureBuilt } from '../auth/harness.js';
import { Person } from '../auth/pki.js';
import { authorizedKeysOf, LocalUser, userServer } from './local-user.js';

const BOB = 'Bob <bob@example.net>';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const ROUNDS = 60;

before(() => ensureBuilt());

const user = new LocalUser();
after(() => user.remove());

test('flipping a symlink between a harmless file and a secret never leaks the secret', async () => {
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const server = userServer();
  const secret = user.secret('secret', `${KEY} root-only-secret\n${BOB}\n`);
  user.write('harmless-keys', `${KEY} harmless\n`);
  user.write('harmless-ids', `${BOB}\n`);
  // The user's own flipper, running with the user's identity, as an attacker would.
  const flip = (link: string, harmless: string) =>
    `while :; do ln -sfn ${JSON.stringify(secret)} ${link}.new && mv -T ${link}.new ${link}; ln -sfn ${JSON.stringify(harmless)} ${link}.new && mv -T ${link}.new ${link}; done`;
  const flipper = spawn(
    'sh',
    ['-c', `${flip(join(user.home, '.ssh/authorized_keys'), join(user.home, 'harmless-keys'))} & ${flip(join(user.home, '.monkeysphere/authorized_user_ids'), join(user.home, 'harmless-ids'))} & wait`],
    { uid: user.uid, gid: user.gid, stdio: 'ignore', detached: true },
  );
  try {
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
    let harmlessSeen = 0;
    for (let i = 0; i < ROUNDS; i++) {
      await server.run(['update-users', user.name]);
      const path = authorizedKeysOf(server, user);
      const written = existsSync(path) ? readFileSync(path, 'utf8') : '';
      assert.ok(!written.includes('root-only-secret'), `round ${i}: the secret was written`);
      if (written.includes('harmless')) harmlessSeen++;
      const k = await server.run(['keys-for-user', user.name]);
      assert.ok(!k.stdout.includes('root-only-secret'), `round ${i}: the secret was printed`);
    }
    // The race was really run: the harmless target was read in some rounds.
    assert.ok(harmlessSeen > 0, 'the flipper never let the harmless file through');
  } finally {
    if (flipper.pid) process.kill(-flipper.pid, 'SIGKILL');
    server.cleanup();
    admin.cleanup();
    bob.cleanup();
  }
});
