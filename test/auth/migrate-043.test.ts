/**
 * Moving from Monkeysphere 0.43, on data the original wrote itself
 * (test/fixtures/ms043/tree.tar, made by scripts/fixtures/make-ms043-tree.ts: 0.43's setup,
 * add-id-certifier full and marginal-with-domain, gpg-cmd --import, update-users,
 * monkeysphere-host import-key). After migration the same people log in through a real
 * sshd with the same keys, the certifiers keep their trust, depth and domain, the host key
 * keeps its fingerprint and certifications, and the 0.43 files are not changed. A failed
 * migration, or no certifier at all, leaves every authorized_keys file as it was.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main as hostMain } from '../../src/cli/monkeysphere-host.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { sshLineFromKeyPacket } from '../../src/ssh/openpgp.js';
import { runCli } from '../helpers/run-cli.js';
import { Sshd } from '../helpers/sshd.js';
import { AuthServer, ensureBuilt, MODES, type Mode } from './harness.js';

const FIXTURE = new URL('../fixtures/ms043/tree.tar', import.meta.url).pathname;

interface Expected {
  people: Record<string, { fpr: string; userId: string; sshKey: string }>;
  hostFpr: string;
  certifiers043: string;
}

/** A server whose $SYSDATADIR is the 0.43 tree, with root's authorized_user_ids listing the four users, as 0.43 had them. */
function legacyServer(): { server: AuthServer; expected: Expected } {
  const server = new AuthServer();
  const r = spawnSync('tar', ['-xf', FIXTURE, '-C', server.root]);
  assert.equal(r.status, 0, r.stderr.toString());
  const expected = JSON.parse(readFileSync(join(server.root, 'people', 'expected.json'), 'utf8')) as Expected;
  server.writeUserIds(['bob', 'dave', 'eve', 'frank'].map((p) => `${expected.people[p].userId}\n`).join(''));
  return { server, expected };
}

/** Every file under `dir`, with a digest of its bytes and its mode: what "left in place" means. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.set(p, `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${statSync(p).mode.toString(8)}`);
    }
  };
  walk(dir);
  return out;
}

async function login(server: AuthServer, mode: Mode, person: string): Promise<number> {
  if (mode === 'file') await server.run(['update-users', 'root']);
  const identity = join(server.root, 'people', `${person}.id`);
  chmodSync(identity, 0o600);
  const sshd = new Sshd({ config: server.sshdConfig(mode) });
  try {
    await sshd.start();
    return sshd.ssh(identity, 'true').status;
  } finally {
    await sshd.stop();
  }
}

function keysOf(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' ').slice(0, 2).join(' '));
}

before(() => ensureBuilt());

describe('migration from Monkeysphere 0.43', () => {
  let server: AuthServer;
  let expected: Expected;
  let oldFiles: Map<string, string>;
  let before043: string;

  before(async () => {
    ({ server, expected } = legacyServer());
    oldFiles = snapshot(join(server.dataDir, 'authentication'));
    before043 = readFileSync(server.authorizedKeysFile, 'utf8');
    // The first command after the switch, as Debian's hourly cron job runs it (for the one
    // account the test controls: the others' files are not the test's to read).
    const r = await server.run(['update-users', 'root']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /migrated from Monkeysphere 0\.43: 6 certificate\(s\), 2 certifier user ID\(s\)/);
  });
  after(() => server.cleanup());

  test('update-users writes the same keys 0.43 wrote: Bob (Ed25519) and Dave (RSA), not Eve (marginal only) or Frank (revoked)', () => {
    const now = readFileSync(server.authorizedKeysFile, 'utf8');
    assert.deepEqual(keysOf(now), keysOf(before043));
    assert.deepEqual(keysOf(now), [expected.people.bob.sshKey, expected.people.dave.sshKey]);
  });

  test('list-id-certifiers prints what 0.43 printed: trust, depth and domain kept', async () => {
    const r = await server.ok(['list-id-certifiers']);
    assert.equal(r.stdout, expected.certifiers043);
  });

  test('the 0.43 files are left exactly as they were', () => {
    const now = snapshot(join(server.dataDir, 'authentication'));
    for (const [path, digest] of oldFiles) assert.equal(now.get(path), digest, path);
  });

  test('migrate again: nothing new is signed', async () => {
    const r = await server.ok(['migrate']);
    assert.match(r.stdout, /already migrated/);
    assert.match(r.stderr, /\(0 newly signed by the trust core/);
  });

  for (const mode of MODES) {
    test(`the same people log in through sshd (${mode})`, async () => {
      assert.equal(await login(server, mode, 'bob'), 0, 'Bob (Ed25519) logs in');
      assert.equal(await login(server, mode, 'dave'), 0, 'Dave (RSA) logs in');
      assert.equal(await login(server, mode, 'eve'), 255, 'Eve (certified by a marginal certifier only) is refused');
      assert.equal(await login(server, mode, 'frank'), 255, 'Frank (revoked) is refused');
    });
  }
});

describe('migrate --dry-run', () => {
  test('shows the certifiers and certificates and writes nothing', async () => {
    const { server } = legacyServer();
    try {
      const r = await server.ok(['migrate', '--dry-run']);
      assert.match(r.stdout, /identity certifier: [0-9A-F]{40} "Admin <admin@example\.net>": full, depth 1\n/);
      assert.match(r.stdout, /identity certifier: [0-9A-F]{40} "Carol <carol@example\.net>": marginal, depth 2, domain example\.net\n/);
      assert.match(r.stdout, /certificates to import: 6\n/);
      assert.deepEqual(readdirSync(join(server.dataDir, 'authentication')).sort(), ['core', 'sphere', 'tmp']);
    } finally {
      server.cleanup();
    }
  });
});

describe('no lockout', () => {
  test('a migration that fails leaves every authorized_keys file as it was', async () => {
    const { server } = legacyServer();
    try {
      const before043 = readFileSync(server.authorizedKeysFile);
      // A 0.43 core keyring gpg cannot read: the migration must stop everything.
      writeFileSync(join(server.dataDir, 'authentication', 'core', 'pubring.kbx'), 'not a keybox');
      const r = await server.run(['update-users', 'root']);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /error: .*(0\.43 trust core|GnuPG home)/);
      assert.deepEqual(readFileSync(server.authorizedKeysFile), before043);
      // And nothing was recorded as migrated: a fixed keyring migrates on the next run.
      const again = await server.run(['migrate', '--dry-run']);
      assert.notEqual(again.status, 0);
    } finally {
      server.cleanup();
    }
  });

  test("a symlink planted in the monkeysphere account's sphere keyring is not followed, and loses no access", async () => {
    const { server } = legacyServer();
    try {
      const before043 = readFileSync(server.authorizedKeysFile);
      const kbx = join(server.dataDir, 'authentication', 'sphere', 'pubring.kbx');
      rmSync(kbx);
      symlinkSync('/etc/shadow', kbx);
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 4);
      assert.match(r.stderr, /sphere\/pubring\.kbx" is a symbolic link owned by uid \d+, not a keyring file; it is not followed/);
      assert.deepEqual(readFileSync(server.authorizedKeysFile), before043);
    } finally {
      server.cleanup();
    }
  });

  test('update-users on a store that never had a certifier keeps the files and says why (exit 1)', async () => {
    const server = new AuthServer();
    try {
      await server.ok(['setup']);
      const existing = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP7grWlaPU0oJVyYWSutx0BhedGjGxKg+ShZtp1Iidbj MonkeySphere2023-01-05T00:00:08 Bob <bob@example.net>\n';
      writeFileSync(server.authorizedKeysFile, existing);
      server.writeUserIds('Bob <bob@example.net>\n');
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /no identity certifier was ever added to this store.*kept unchanged/);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), existing);
    } finally {
      server.cleanup();
    }
  });
});

describe('monkeysphere-host: the 0.43 host key', () => {
  test('keeps its fingerprint, its secret and the admin certification, and the 0.43 keyring is unchanged', async () => {
    const { server, expected } = legacyServer();
    try {
      const hostHome = join(server.dataDir, 'host');
      const oldHost = snapshot(hostHome);
      const r = await runCli(hostMain, ['show-keys'], { env: { ...server.env }, cwd: server.root });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /migrated the Monkeysphere 0\.43 host key/);
      const file = join(server.dataDir, 'host-keys', `${expected.hostFpr}.pgp`);
      const cert = readCerts(readFileSync(file)).certs[0];
      assert.equal(cert.primary.fpr, expected.hostFpr);
      assert.ok(cert.secret, 'the secret key moved');
      const issuers = cert.users.flatMap((u) => u.signatures.flatMap((s) => s.sig?.issuerFingerprints ?? []));
      assert.ok(issuers.includes(expected.people.admin.fpr), 'the admin certification is kept');
      // The same RSA key as the PEM file 0.43 imported.
      const fromPem = spawnSync('ssh-keygen', ['-y', '-f', join(server.root, 'people', 'host-rsa-key')]).stdout.toString().trim();
      assert.equal(sshLineFromKeyPacket(cert.primary), fromPem);
      assert.deepEqual(snapshot(hostHome), oldHost);
    } finally {
      server.cleanup();
    }
  });
});
