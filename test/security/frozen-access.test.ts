/**
 * Attack: a user freezes their own access. Once their key is revoked they would lose
 * it at the next update-users, so they first make their authorized_user_ids unusable
 * (a directory, a symlink loop, a file over the size limit, a FIFO, a file they cannot
 * read) hoping update-users keeps the previous authorized_keys. A user's file that is
 * refused counts as empty: only failures of our own keep a previous file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt } from '../auth/harness.js';
import { NOW, Person } from '../auth/pki.js';
import { authorizedKeysOf, LocalUser, userServer } from './local-user.js';

const BOB = 'Bob <bob@example.net>';

const SABOTAGE: Array<[string, (u: LocalUser, ids: string) => void]> = [
  [
    'a directory',
    (u) => {
      rmSync(join(u.home, '.monkeysphere/authorized_user_ids'));
      u.mkdir('.monkeysphere/authorized_user_ids');
    },
  ],
  [
    'a symlink loop',
    (u) => {
      u.symlink('.monkeysphere/loop', join(u.home, '.monkeysphere/authorized_user_ids'));
      u.symlink('.monkeysphere/authorized_user_ids', join(u.home, '.monkeysphere/loop'));
    },
  ],
  ['a file over the size limit', (u, ids) => u.write('.monkeysphere/authorized_user_ids', `${ids}${'#'.repeat(1024 * 1024)}\n`)],
  [
    'a FIFO',
    (u) => {
      rmSync(join(u.home, '.monkeysphere/authorized_user_ids'));
      spawnSync('mkfifo', [join(u.home, '.monkeysphere/authorized_user_ids')]);
    },
  ],
  ['a file the user cannot read', (u, ids) => u.write('.monkeysphere/authorized_user_ids', ids, 0o000)],
  ['a group-writable file', (u, ids) => u.write('.monkeysphere/authorized_user_ids', ids, 0o664)],
];

before(() => ensureBuilt());

describe('a revoked user sabotages their authorized_user_ids to keep the old authorized_keys', () => {
  const user = new LocalUser();
  after(() => user.remove());

  for (const [what, sabotage] of SABOTAGE) {
    test(`${what}: the revoked key is gone after update-users, and the refusal is reported`, async () => {
      const admin = new Person(['Admin <admin@example.net>']);
      const bob = new Person([BOB]).certifiedBy(admin);
      const server = userServer();
      try {
        await server.ok(['setup']);
        await server.addCertifier(admin);
        await server.importCert(bob);
        user.write('.monkeysphere/authorized_user_ids', `${BOB}\n`);
        await server.ok(['update-users', user.name]);
        const path = authorizedKeysOf(server, user);
        assert.ok(readFileSync(path, 'utf8').includes(bob.sshKey), 'access before');

        bob.revokeSubkey(NOW - 3600);
        await server.importCert(bob);
        sabotage(user, `${BOB}\n`);
        const r = await server.run(['update-users', user.name]);
        assert.equal(r.status, 1, 'the refused file is reported');
        assert.match(r.stderr, /not using/);
        assert.ok(!existsSync(path) || !readFileSync(path, 'utf8').includes(bob.sshKey), 'the revoked key must not stay');
        const k = await server.run(['keys-for-user', user.name]);
        assert.ok(!k.stdout.includes(bob.sshKey));
      } finally {
        server.cleanup();
        admin.cleanup();
        bob.cleanup();
        spawnSync('rm', ['-rf', join(user.home, '.monkeysphere')]);
        user.mkdir('.monkeysphere');
      }
    });
  }
});
