/**
 * GnuPG 2.2 as the client of our keyserver, the read/write suite every store runs
 * (gnupg-sqlite.test.ts, postgres.test.ts): --send-keys, --recv-keys by fingerprint, key ID and
 * subkey ID, --search-keys by e-mail and by `=ssh://host` (batch, colons: what Monkeysphere
 * reads), and --refresh-keys picking up a revocation. Each suite has its own GnuPG homes whose
 * dirmngr.conf names the server, and kills their dirmngr and gpg-agent at the end.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GpgHome } from '../helpers/gpg.js';
import { gpgAsync, gpgOk, type TestServer } from './harness.js';

/** A GnuPG home using `server` as its keyserver (dirmngr.conf). */
export function homeFor(server: TestServer): GpgHome {
  const home = new GpgHome();
  writeFileSync(join(home.dir, 'dirmngr.conf'), `keyserver ${server.url}\n`);
  return home;
}

/** The fingerprint of the newest key with this user ID in the home. */
export function fprOf(home: GpgHome, uid: string): string {
  const rows = home.colons(['--list-keys', `=${uid}`]);
  return rows.find((r) => r[0] === 'fpr')![9];
}

export function gnupgSuite(name: string, start: () => Promise<TestServer>): void {
  describe(`GnuPG 2.2 against our keyserver (${name})`, () => {
    let server: TestServer;
    let alice: GpgHome;
    let bob: GpgHome;
    let host = '';
    let person = '';
    before(async () => {
      server = await start();
      alice = homeFor(server);
      bob = homeFor(server);
      alice.ok(['--quick-gen-key', 'ssh://host.example.org', 'ed25519', 'cert,auth', '0']);
      alice.ok(['--quick-gen-key', 'Alice Example <alice@example.org>', 'ed25519', 'default', '0']);
      host = fprOf(alice, 'ssh://host.example.org');
      person = fprOf(alice, 'Alice Example <alice@example.org>');
      alice.ok(['--quick-add-key', person, 'cv25519', 'encr', '0']);
    });
    after(async () => {
      alice?.cleanup();
      bob?.cleanup();
      await server?.stop();
    });

    test('gpg --send-keys stores the certificates', async () => {
      await gpgOk(alice, ['--send-keys', host, person]);
      const stored = await server.store.certs.getMany([host, person]);
      assert.deepEqual(
        stored.map((c) => c.fpr),
        [host, person],
      );
      assert.deepEqual(
        stored[0].cert.users.map((u) => u.text),
        ['ssh://host.example.org'],
      );
    });

    test('gpg --recv-keys by fingerprint, by key ID and by a subkey ID', async () => {
      await gpgOk(bob, ['--recv-keys', host]);
      await gpgOk(bob, ['--recv-keys', person.slice(-16)]);
      const keys = bob.colons(['--list-keys']).filter((r) => r[0] === 'fpr');
      assert.ok(keys.some((r) => r[9] === host));
      assert.ok(keys.some((r) => r[9] === person));
      const sub = alice.colons(['--list-keys', person]).filter((r) => r[0] === 'fpr')[1][9];
      const carol = homeFor(server);
      try {
        await gpgOk(carol, ['--recv-keys', sub.slice(-16)]);
        assert.ok(carol.colons(['--list-keys']).some((r) => r[0] === 'fpr' && r[9] === person));
      } finally {
        carol.cleanup();
      }
    });

    test('gpg --search-keys by e-mail (batch, colons) lists the key', async () => {
      const r = await gpgOk(bob, ['--with-colons', '--search-keys', 'alice@example.org']);
      const pubs = r.stdout.split('\n').filter((l) => l.startsWith('pub:'));
      assert.deepEqual(
        pubs.map((l) => l.split(':')[1]),
        [person],
      );
      assert.match(r.stdout, /^uid:Alice Example <alice@example\.org>:/m);
    });

    test('gpg --search-keys =ssh://host.example.org, as Monkeysphere asks, finds exactly the host', async () => {
      const r = await gpgOk(bob, ['--with-colons', '--search-keys', '=ssh://host.example.org']);
      const pubs = r.stdout.split('\n').filter((l) => l.startsWith('pub:'));
      assert.deepEqual(
        pubs.map((l) => l.split(':')[1]),
        [host],
      );
      // gpg prints the index as the server sent it: the user ID's ':' %-escaped, as SKS does.
      assert.match(r.stdout, /^uid:ssh%3A\/\/host\.example\.org:\d+::$/m);
    });

    test('gpg --locate-external-keys with auto-key-locate keyserver finds the key by address', async () => {
      const dave = homeFor(server);
      try {
        await gpgOk(dave, ['--auto-key-locate', 'clear,keyserver,nodefault', '--locate-external-keys', 'alice@example.org']);
        assert.deepEqual(
          dave.colons(['--list-keys']).filter((r) => r[0] === 'fpr').map((r) => r[9])[0],
          person,
        );
      } finally {
        dave.cleanup();
      }
    });

    test('gpg --search-keys for nothing known: no key found, exit non-zero', async () => {
      const r = await gpgAsync(bob, ['--with-colons', '--search-keys', 'nobody-at-all@example.org']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /No data|not found/i);
    });

    test('a certification sent with gpg reaches gpg with no-self-sigs-only (the web of trust survives)', async () => {
      alice.ok(['-u', person, '--quick-sign-key', host, 'ssh://host.example.org']);
      await gpgOk(alice, ['--send-keys', host]);
      const stored = await server.store.certs.get(host);
      assert.ok(stored?.cert.users[0].signatures.some((e) => e.sig?.issuerFingerprints.includes(person)));
      await gpgOk(bob, ['--keyserver-options', 'no-self-sigs-only,no-import-clean', '--recv-keys', host]);
      const sigs = bob.colons(['--list-sigs', host]).filter((r) => r[0] === 'sig');
      assert.deepEqual(sigs.map((r) => r[4]).sort(), [host.slice(-16), person.slice(-16)].sort());
    });

    test('gpg --refresh-keys picks up a revocation sent later', async () => {
      assert.equal(bob.colons(['--list-keys', host]).find((r) => r[0] === 'pub')![1], '-');
      // GnuPG made a revocation certificate with the key; import it (strip its safety colon) and send.
      const revs = join(alice.dir, 'openpgp-revocs.d');
      const file = readdirSync(revs).find((f) => f.startsWith(host))!;
      alice.ok(['--import'], readFileSync(join(revs, file), 'utf8').replace(/^:-----BEGIN/m, '-----BEGIN'));
      await gpgOk(alice, ['--send-keys', host]);
      await gpgOk(bob, ['--refresh-keys', host]);
      assert.equal(bob.colons(['--list-keys', host]).find((r) => r[0] === 'pub')![1], 'r');
      // The index says so too.
      const r = await gpgOk(bob, ['--with-colons', '--search-keys', '=ssh://host.example.org']);
      assert.match(r.stdout, new RegExp(`^pub:${host}:22:255:\\d+::r$`, 'm'));
    });
  });
}
