/**
 * End to end: a real OpenSSH server lets Bob in exactly when Monkeysphere says his key
 * is valid for a user ID listed in authorized_user_ids, through both ways sshd can ask:
 * the generated `AuthorizedKeysFile $SYSDATADIR/authorized_keys/%u` and the
 * `AuthorizedKeysCommand monkeysphere-authentication-keys-for-user %u`. Each test builds
 * its own server, people and certifications. ssh exits 255 when authentication fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { AuthServer, ensureBuilt, MODES, type Mode } from './harness.js';
import { CREATED, NOW, Person, type PersonOptions } from './pki.js';

const BOB = 'Bob <bob@example.net>';
const DAY = 86400;

before(() => ensureBuilt());

interface Scene {
  server: AuthServer;
  admin: Person;
  bob: Person;
}

/** The basic scene: an admin certifier (full, depth 1), Bob certified by the admin, Bob's user ID authorized for root. */
async function withScene(opts: { bob?: PersonOptions; certifierArgs?: string[] }, body: (sc: Scene) => Promise<void>): Promise<void> {
  const server = new AuthServer();
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB], opts.bob);
  try {
    bob.certifiedBy(admin, BOB);
    await server.ok(['setup']);
    await server.addCertifier(admin, opts.certifierArgs ?? []);
    await server.importCert(bob);
    server.writeUserIds(`${BOB}\n`);
    await body({ server, admin, bob });
  } finally {
    server.cleanup();
    admin.cleanup();
    bob.cleanup();
  }
}

async function expectLogin(s: AuthServer, mode: Mode, p: Person, ok: boolean, what: string): Promise<void> {
  const r = await s.login(mode, p, 'true');
  if (ok) assert.equal(r.status, 0, `${what}: login should succeed (${mode})\nssh: ${r.stderr}\nsshd: ${r.sshdLog}`);
  else assert.equal(r.status, 255, `${what}: login should be refused (${mode})\nssh: ${r.stderr}`);
}

for (const mode of MODES) {
  describe(`login through sshd (${mode === 'file' ? 'AuthorizedKeysFile' : 'AuthorizedKeysCommand'})`, () => {
    test('succeeds when the admin certified Bob (Ed25519)', async () => {
      await withScene({}, async (sc) => {
        await expectLogin(sc.server, mode, sc.bob, true, 'certified Ed25519 key');
      });
    });

    test('succeeds with an RSA key (primary and authentication subkey)', async () => {
      await withScene({ bob: { alg: 'rsa' } }, async (sc) => {
        await expectLogin(sc.server, mode, sc.bob, true, 'certified RSA key');
      });
    });

    test('succeeds with an authentication-capable primary key and no subkey', async () => {
      await withScene({ bob: { authSubkey: false } }, async (sc) => {
        await expectLogin(sc.server, mode, sc.bob, true, 'primary key with the authenticate flag');
      });
    });

    test('fails when nobody trusted certified Bob', async () => {
      await withScene({}, async (sc) => {
        const mallory = new Person([BOB]);
        await sc.server.importCert(mallory);
        await expectLogin(sc.server, mode, mallory, false, 'uncertified key with the same user ID');
        mallory.cleanup();
      });
    });

    test("fails after Bob's key is revoked", async () => {
      await withScene({}, async (sc) => {
        await expectLogin(sc.server, mode, sc.bob, true, 'before the revocation');
        sc.bob.revokeKey(NOW - DAY);
        await sc.server.importCert(sc.bob);
        await expectLogin(sc.server, mode, sc.bob, false, 'revoked key');
      });
    });

    test("fails after Bob's authentication subkey is revoked", async () => {
      await withScene({}, async (sc) => {
        sc.bob.revokeSubkey(NOW - DAY);
        await sc.server.importCert(sc.bob);
        await expectLogin(sc.server, mode, sc.bob, false, 'revoked subkey');
      });
    });

    test("fails after Bob's user ID is revoked", async () => {
      await withScene({}, async (sc) => {
        sc.bob.revokeUserId(BOB, NOW - DAY);
        await sc.server.importCert(sc.bob);
        await expectLogin(sc.server, mode, sc.bob, false, 'revoked user ID');
      });
    });

    test("fails once Bob's key has expired (the precomputed answer runs out by itself)", async () => {
      await withScene({ bob: { keyExpiresAfter: 365 * DAY + 30 * DAY } }, async (sc) => {
        await expectLogin(sc.server, mode, sc.bob, true, 'before expiry');
        sc.server.setNow(CREATED + 365 * DAY + 31 * DAY);
        await expectLogin(sc.server, mode, sc.bob, false, 'after expiry');
      });
    });

    test('fails when his user ID leaves authorized_user_ids', async () => {
      await withScene({}, async (sc) => {
        sc.server.writeUserIds('# nobody\nCarol <carol@example.net>\n');
        await expectLogin(sc.server, mode, sc.bob, false, 'user ID not listed');
      });
    });

    test('fails when authorized_user_ids is group- or world-writable', async () => {
      await withScene({}, async (sc) => {
        sc.server.writeUserIds(`${BOB}\n`, 0o664);
        await expectLogin(sc.server, mode, sc.bob, false, 'group-writable authorized_user_ids');
        sc.server.writeUserIds(`${BOB}\n`, 0o646);
        await expectLogin(sc.server, mode, sc.bob, false, 'world-writable authorized_user_ids');
        sc.server.writeUserIds(`${BOB}\n`, 0o644);
        await expectLogin(sc.server, mode, sc.bob, true, 'permissions fixed');
      });
    });

    test('follows symlinks: a sound link works, a writable target or directory behind a link does not', async () => {
      await withScene({}, async (sc) => {
        const uids = sc.server.uidsFile;
        const store = join(sc.server.home, 'store');
        mkdirSync(store, { mode: 0o755 });
        writeFileSync(join(store, 'ids'), `${BOB}\n`, { mode: 0o644 });
        rmSync(uids);
        symlinkSync(join(store, 'ids'), uids);
        await expectLogin(sc.server, mode, sc.bob, true, 'absolute symlink');
        rmSync(uids);
        symlinkSync('../store/ids', uids);
        await expectLogin(sc.server, mode, sc.bob, true, 'relative symlink');
        chmodSync(join(store, 'ids'), 0o646);
        await expectLogin(sc.server, mode, sc.bob, false, 'world-writable link target');
        chmodSync(join(store, 'ids'), 0o644);
        // The .monkeysphere directory itself a link to a group-writable directory.
        const dotDir = join(sc.server.home, '.monkeysphere');
        rmSync(dotDir, { recursive: true });
        const shared = join(sc.server.home, 'shared');
        mkdirSync(shared, { mode: 0o775 });
        chmodSync(shared, 0o775);
        writeFileSync(join(shared, 'authorized_user_ids'), `${BOB}\n`, { mode: 0o644 });
        symlinkSync(shared, dotDir);
        await expectLogin(sc.server, mode, sc.bob, false, 'group-writable directory behind a symlink');
        chmodSync(shared, 0o755);
        await expectLogin(sc.server, mode, sc.bob, true, 'directory fixed');
      });
    });

    test('fails after the certifier is removed', async () => {
      await withScene({}, async (sc) => {
        await expectLogin(sc.server, mode, sc.bob, true, 'with the certifier');
        await sc.server.ok(['remove-id-certifier', sc.admin.fpr]);
        assert.equal((await sc.server.ok(['list-id-certifiers'])).stdout, '');
        await expectLogin(sc.server, mode, sc.bob, false, 'certifier removed');
        await sc.server.addCertifier(sc.admin);
        await expectLogin(sc.server, mode, sc.bob, true, 'certifier added again');
      });
    });

    test('a domain-limited certifier counts only inside its domain', async () => {
      await withScene({ certifierArgs: ['--domain', 'example.org'] }, async (sc) => {
        await expectLogin(sc.server, mode, sc.bob, false, 'certifier limited to example.org, Bob in example.net');
      });
      await withScene({ certifierArgs: ['-n', 'example.net'] }, async (sc) => {
        await expectLogin(sc.server, mode, sc.bob, true, 'certifier limited to example.net, Bob in example.net');
      });
    });

    test('one marginal certifier is not enough; three are', async () => {
      const server = new AuthServer();
      const certifiers = [1, 2, 3].map((i) => new Person([`Certifier ${i} <c${i}@example.net>`]));
      const bob = new Person([BOB]);
      try {
        await server.ok(['setup']);
        for (const c of certifiers) {
          await server.addCertifier(c, ['--trust', 'marginal']);
          bob.certifiedBy(c);
        }
        server.writeUserIds(`${BOB}\n`);
        const one = new Person([BOB]);
        one.certifiedBy(certifiers[0]);
        await server.importCert(one);
        await expectLogin(server, mode, one, false, 'one marginal certification');
        await server.importCert(bob);
        await expectLogin(server, mode, bob, true, 'three marginal certifications');
        one.cleanup();
      } finally {
        server.cleanup();
        bob.cleanup();
        for (const c of certifiers) c.cleanup();
      }
    });

    test('option lines become authorized_keys options: command="/bin/false" and no-port-forwarding', async () => {
      await withScene({}, async (sc) => {
        sc.server.writeUserIds(`${BOB}\n\tcommand="/bin/false"\n`);
        for (const cmd of ['true', 'echo hello']) {
          const r = await sc.server.login(mode, sc.bob, cmd);
          assert.equal(r.status, 1, `forced /bin/false should run instead of ${JSON.stringify(cmd)}: ${r.stderr}`);
          assert.equal(r.stdout, '');
        }
        sc.server.writeUserIds(`${BOB}\n    no-port-forwarding\n`);
        const forward = ['-o', 'ExitOnForwardFailure=yes', '-R', '127.0.0.1:0:127.0.0.1:9'];
        const refused = await sc.server.login(mode, sc.bob, 'true', { sshArgs: forward });
        assert.notEqual(refused.status, 0, 'remote forwarding must be refused');
        assert.match(refused.stderr, /forwarding failed/i);
        sc.server.writeUserIds(`${BOB}\n`);
        const allowed = await sc.server.login(mode, sc.bob, 'true', { sshArgs: forward });
        assert.equal(allowed.status, 0, `forwarding allowed without the option: ${allowed.stderr}`);
      });
    });
  });
}

test('login with the key held by ssh-agent (AuthorizedKeysCommand)', async () => {
  await withScene({}, async (sc) => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-agent-'));
    const socket = join(dir, 'agent.sock');
    const agent = spawnSync('ssh-agent', ['-a', socket, '-s'], { encoding: 'utf8' });
    const pid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
    try {
      assert.equal(agent.status, 0, agent.stderr);
      const add = spawnSync('ssh-add', [sc.bob.identityFile()], { env: { ...process.env, SSH_AUTH_SOCK: socket }, encoding: 'utf8' });
      assert.equal(add.status, 0, add.stderr);
      const r = await sc.server.login('command', sc.bob, 'echo through-agent', { agentSocket: socket });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'through-agent');
    } finally {
      if (pid) process.kill(Number(pid));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
