/**
 * monkeysphere-authentication and keyservers: certificates come from a real SKS 1.1.6
 * (update-users with CHECK_KEYSERVER, add-id-certifier by key ID, refresh-keys picking
 * up a revocation); a keyserver that refuses connections or never answers costs bounded
 * time, is reported, and leaves existing access as it was; keys-for-user never asks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { KeyserverClient } from '../../src/keyserver/client.js';
import { freePort, useSks } from '../helpers/sks.js';
import { AuthServer } from './harness.js';
import { NOW, Person } from './pki.js';

const BOB = 'Bob <bob@example.net>';
const MARKER = 'MonkeySphere2023-01-15T00:00:00';

/** A TCP server that accepts connections and never says anything; counts connections. */
async function silentServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const srv: Server = createServer((s) => {
    count++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  return {
    url: `hkp://127.0.0.1:${port}`,
    connections: () => count,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

describe('with a real SKS keyserver', () => {
  const sks = useSks();

  test('add-id-certifier by key ID, update-users fetching Bob, refresh-keys bringing his revocation', async () => {
    const admin = new Person(['Admin <admin@example.net>']);
    const bob = new Person([BOB]).certifiedBy(admin);
    const server = new AuthServer({ MONKEYSPHERE_KEYSERVER: sks().url, MONKEYSPHERE_CHECK_KEYSERVER: 'true' });
    try {
      const client = new KeyserverClient({ servers: [sks().url] });
      await client.send([admin.cert, bob.cert]);
      const added = await server.run(['add-id-certifier', admin.fpr.slice(-16)]);
      assert.equal(added.status, 0, added.stderr);
      assert.equal((await server.ok(['list-id-certifiers'])).stdout, `${admin.fpr}:\n :Admin <admin@example.net>:1:120:\n`);
      server.writeUserIds(`${BOB}\n`);
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
      await client.send([bob.revokeKey(NOW - 3600)]);
      server.env.MONKEYSPHERE_CHECK_KEYSERVER = 'false';
      const refreshed = await server.run(['refresh-keys']);
      assert.equal(refreshed.status, 0, refreshed.stderr);
      assert.match(refreshed.stderr, /1 updated/);
      await server.ok(['update-users', 'root']);
      assert.throws(() => readFileSync(server.authorizedKeysFile), { code: 'ENOENT' });
    } finally {
      server.cleanup();
      admin.cleanup();
      bob.cleanup();
    }
  });
});

describe('with a keyserver that is down or silent', () => {
  async function granted(keyserver: string): Promise<{ server: AuthServer; bob: Person; admin: Person; done: () => void }> {
    const admin = new Person(['Admin <admin@example.net>']);
    const bob = new Person([BOB]).certifiedBy(admin);
    const server = new AuthServer({ MONKEYSPHERE_KEYSERVER: keyserver, MONKEYSPHERE_KEYSERVER_TIMEOUT: '1' });
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
    server.writeUserIds(`${BOB}\nCarol <carol@example.net>\nDave <dave@example.net>\nErin <erin@example.net>\nFrank <frank@example.net>\n`);
    await server.ok(['update-users', 'root']);
    return {
      server,
      bob,
      admin,
      done: () => {
        server.cleanup();
        bob.cleanup();
        admin.cleanup();
      },
    };
  }

  test('refused connections: update-users reports it, keeps access, exits 0; add-id-certifier by key ID fails with exit 5', async () => {
    const port = await freePort();
    const { server, bob, done } = await granted(`hkp://127.0.0.1:${port}`);
    try {
      server.env.MONKEYSPHERE_CHECK_KEYSERVER = 'true';
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /could not search the keyserver for "Bob <bob@example.net>"/);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
      const c = await server.run(['add-id-certifier', '0123456789ABCDEF']);
      assert.equal(c.status, 5, c.stderr);
      assert.match(c.stderr, /^monkeysphere-authentication: error: .+/m);
      assert.match(c.stderr, /could not receive a key with this ID from the keyserver/);
    } finally {
      done();
    }
  });

  test('a keyserver that never answers costs one timeout, not one per user ID; keys-for-user never asks it', async () => {
    const silent = await silentServer();
    const { server, bob, done } = await granted(silent.url);
    try {
      server.env.MONKEYSPHERE_CHECK_KEYSERVER = 'true';
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /skipped the keyserver for \d+ more user ID\(s\); using the stored certificates/);
      // Four lookups run at once (each may be tried twice by the client); the fifth is skipped.
      assert.ok(silent.connections() <= 8, `${silent.connections()} connections`);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
      const untouched = await silentServer();
      try {
        server.env.MONKEYSPHERE_KEYSERVER = untouched.url;
        const k = await server.run(['keys-for-user', 'root']);
        assert.equal(k.status, 0, k.stderr);
        assert.equal(k.stdout, `${bob.sshKey} ${MARKER} ${BOB}\n`);
        assert.equal(untouched.connections(), 0);
      } finally {
        await untouched.close();
      }
    } finally {
      done();
      await silent.close();
    }
  });
});
