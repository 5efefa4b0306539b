/**
 * Data written before the one store (schema 1: the authentication service's own auth_*
 * tables, kept by triggers on the certificate table) opens after it: the first command
 * that may write migrates it, the trust core is kept, every answer stays the same, and a
 * read-only reader of the old file is told what to do instead of guessing.
 * The fixture (test/fixtures/auth-store-v1/) was written by commit 2b452ca.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { AuthStore } from '../../src/auth/store.js';
import { Sshd } from '../helpers/sshd.js';
import { AuthServer, ensureBuilt, MODES } from './harness.js';

const FIXTURE = new URL('../fixtures/auth-store-v1/auth-store-v1.tar', import.meta.url).pathname;
const unpacked = mkdtempSync(join(tmpdir(), 'ms-v1-'));
after(() => rmSync(unpacked, { recursive: true, force: true }));
execFileSync('tar', ['-xf', FIXTURE, '-C', unpacked]);
const expected = (name: string) => readFileSync(join(unpacked, name), 'utf8');

/** A server whose directories hold the old data. */
function oldServer(): AuthServer {
  const server = new AuthServer();
  cpSync(join(unpacked, 'server'), server.root, { recursive: true });
  chmodSync(join(server.dataDir, 'authentication', 'core', 'core-secret.pgp'), 0o600);
  return server;
}

const storeFile = (server: AuthServer) => join(server.dataDir, 'authentication', 'store.sqlite');

function tablesOf(path: string): { tables: string[]; triggers: string[]; version: number } {
  const db = new Database(path, { readonly: true });
  try {
    const names = (type: string) => (db.prepare('SELECT name FROM sqlite_master WHERE type = ? ORDER BY name').all(type) as Array<{ name: string }>).map((r) => r.name);
    return { tables: names('table'), triggers: names('trigger'), version: db.pragma('user_version', { simple: true }) as number };
  } finally {
    db.close();
  }
}

before(() => ensureBuilt());

describe('a store written before the one store', () => {
  test('is what the old code left: schema 1 with the auth_* tables and triggers', () => {
    const server = oldServer();
    try {
      const t = tablesOf(storeFile(server));
      assert.equal(t.version, 1);
      assert.ok(t.tables.includes('auth_bindings') && t.tables.includes('auth_state'));
      assert.deepEqual(t.triggers, ['auth_certs_delete', 'auth_certs_insert', 'auth_certs_update']);
    } finally {
      server.cleanup();
    }
  });

  test('a read-only reader is told to upgrade it, and changes nothing', async () => {
    const server = oldServer();
    try {
      await assert.rejects(AuthStore.open(storeFile(server), { readonly: true }), (err: Error & { code?: string }) => err.code === 'MS_STORE_SCHEMA' && /upgrade|update|open it/i.test(err.message + JSON.stringify(err)));
      assert.equal(tablesOf(storeFile(server)).version, 1);
    } finally {
      server.cleanup();
    }
  });

  test('keys-for-user migrates it and answers as the old code did; no auth_* tables or triggers remain; the core is kept', async () => {
    const server = oldServer();
    try {
      const r = await server.ok(['keys-for-user', 'root']);
      assert.equal(r.stdout, expected('expected-keys-for-user'));
      assert.ok(r.stdout.includes(expected('bob.ssh').trim()));
      const t = tablesOf(storeFile(server));
      assert.ok(t.version >= 2);
      assert.deepEqual(t.triggers.filter((n) => n.startsWith('auth_')), [], 'the store keeps its own triggers, no others');
      assert.deepEqual(
        t.tables.filter((n) => n.startsWith('auth_')),
        [],
      );
      const store = await AuthStore.open(storeFile(server), { readonly: true });
      try {
        const oldCore = new Database(join(unpacked, 'server/var/authentication/store.sqlite'), { readonly: true });
        const core = (oldCore.prepare('SELECT core_fpr FROM auth_state').get() as { core_fpr: string }).core_fpr;
        oldCore.close();
        assert.equal((await store.state()).coreFpr, core);
        assert.equal(await store.certs.count(), 5);
      } finally {
        await store.close();
      }
      // setup on a migrated store keeps the same core rather than making another.
      const setup = await server.ok(['setup']);
      assert.doesNotMatch(setup.stderr, /created the trust core/);
    } finally {
      server.cleanup();
    }
  });

  test('update-users writes the same authorized_keys, and Bob logs in through a real sshd either way', async () => {
    const server = oldServer();
    const identity = join(server.root, 'bob.key');
    cpSync(join(unpacked, 'bob.key'), identity);
    chmodSync(identity, 0o600);
    try {
      await server.ok(['update-users', 'root']);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), expected('expected-authorized_keys'));
      for (const mode of MODES) {
        const sshd = new Sshd({ config: server.sshdConfig(mode) });
        try {
          await sshd.start();
          const r = sshd.ssh(identity, 'echo in');
          assert.equal(r.status, 0, `${mode}: ${r.stderr}\n${sshd.log}`);
          assert.equal(r.stdout.trim(), 'in');
        } finally {
          await sshd.stop();
        }
      }
    } finally {
      server.cleanup();
    }
  });
});
