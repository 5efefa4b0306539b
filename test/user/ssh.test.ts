/**
 * The seed's use case end to end, with real OpenSSH: Bob runs ssh to a real sshd on
 * loopback with `StrictHostKeyChecking yes` and an empty known_hosts, and `monkeysphere`
 * (the built command, as ssh runs it) decides from Bob's GnuPG home whether the host key is
 * valid: as a ProxyCommand (0.43's way, writing known_hosts) and as a KnownHostsCommand.
 * The connection must succeed exactly when gpg itself rates the host's service name fully
 * valid at the same reference time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt } from '../auth/harness.js';
import { Sshd, secureTmpDir } from '../helpers/sshd.js';
import { MONKEYSPHERE, NOW, World } from './world.js';

type Variant = 'proxy' | 'known-hosts-command';
const VARIANTS: Variant[] = ['proxy', 'known-hosts-command'];

let sshd: Sshd;
let authorizedKeys: string;
let serviceName: string;
const hostKey = () => join(sshd.dir, 'host_ed25519');

before(async () => {
  ensureBuilt();
  authorizedKeys = join(secureTmpDir('ms-ak-'), 'authorized_keys');
  sshd = new Sshd({ config: [`AuthorizedKeysFile ${authorizedKeys}`] });
  writeFileSync(authorizedKeys, '', { mode: 0o600 });
  await sshd.start();
  serviceName = `ssh://localhost:${sshd.port}`;
});

after(() => sshd.stop());

/** ssh as Bob to the test sshd: exit status and stderr. */
function ssh(world: World, variant: Variant, extra: string[] = [], env: NodeJS.ProcessEnv = {}, knownHostsCommand = 'known-hosts-command %H %I') {
  writeFileSync(authorizedKeys, `${world.bob.sshKey}\n`, { mode: 0o600 });
  const monkeysphere = `${process.execPath} ${MONKEYSPHERE}`;
  const hostKeyOptions =
    variant === 'proxy'
      ? ['-o', `UserKnownHostsFile=${world.knownHosts}`, '-o', `ProxyCommand=${monkeysphere} ssh-proxycommand %h %p`]
      : ['-o', 'UserKnownHostsFile=/dev/null', '-o', `KnownHostsCommand=${monkeysphere} ${knownHostsCommand}`];
  const r = spawnSync(
    'ssh',
    [
      '-F', '/dev/null',
      '-p', String(sshd.port),
      '-i', world.bob.identityFile(),
      '-o', 'IdentitiesOnly=yes',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'ConnectTimeout=20',
      ...hostKeyOptions,
      ...extra,
      `${sshd.user}@localhost`,
      'echo logged-in',
    ],
    { env: world.env(env), encoding: 'utf8', timeout: 120_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A world where Bob trusts Alice `aliceTrust` (5 full, 4 marginal) and the host has `userIds`, certified by Alice as `certify` says. */
function world(opts: { aliceTrust?: number; userIds?: string[]; certify?: string[] } = {}) {
  const w = new World();
  const userIds = opts.userIds ?? [serviceName];
  const host = w.host(hostKey(), userIds);
  for (const uid of opts.certify ?? userIds) host.certifiedBy(w.alice, uid);
  w.ownertrust(w.alice, opts.aliceTrust ?? 5);
  return { w, host };
}

describe('ssh accepts the host key exactly when the web of trust makes it valid', () => {
  for (const variant of VARIANTS) {
    test(`${variant}: the host certified by Alice, whom Bob trusts fully: connected`, (t) => {
      const { w, host } = world();
      t.after(() => w.cleanup());
      w.import(host.cert);
      assert.equal(w.gpgValidity(host.fpr, serviceName), 'f');
      const r = ssh(w, variant);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /logged-in/);
      if (variant === 'proxy') assert.match(readFileSync(w.knownHosts, 'utf8'), new RegExp(`^\\[localhost\\]:${sshd.port} ssh-ed25519 \\S+ MonkeySphere2023-01-15T00:00:00$`, 'm'));
    });

    test(`${variant}: only marginal validity (Alice trusted marginally): refused, and the warning says why`, (t) => {
      const { w, host } = world({ aliceTrust: 4 });
      t.after(() => w.cleanup());
      w.import(host.cert);
      assert.equal(w.gpgValidity(host.fpr, serviceName), 'm');
      const r = ssh(w, variant);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /Host key verification failed/);
      assert.match(r.stderr, /-------------------- Monkeysphere warning -------------------/);
      assert.match(r.stderr, /only 1 of 3 marginal introducers/);
      assert.match(r.stderr, /-------------------- ssh continues below --------------------/);
    });

    test(`${variant}: no certification at all: refused`, (t) => {
      const { w, host } = world({ certify: [] });
      t.after(() => w.cleanup());
      w.import(host.cert);
      assert.equal(w.gpgValidity(host.fpr, serviceName), '-');
      const r = ssh(w, variant);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /Host key verification failed/);
      assert.match(r.stderr, /no path: the user ID carries no certifications/);
    });

    test(`${variant}: the host key revoked: refused`, (t) => {
      const { w, host } = world();
      t.after(() => w.cleanup());
      host.revokeKey(NOW - 3600);
      w.import(host.cert);
      assert.equal(w.gpgValidity(host.fpr, serviceName), 'r');
      const r = ssh(w, variant);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /Host key verification failed/);
      assert.match(r.stderr, /the key is revoked/);
    });

    test(`${variant}: the service name revoked: refused`, (t) => {
      const { w, host } = world();
      t.after(() => w.cleanup());
      host.revokeUserId(serviceName, NOW - 3600);
      w.import(host.cert);
      assert.equal(w.gpgValidity(host.fpr, serviceName), 'r');
      const r = ssh(w, variant);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /Host key verification failed/);
      assert.match(r.stderr, /the user ID is revoked/);
    });

    test(`${variant}: a second service name, added to the certificate and certified: connected`, (t) => {
      const { w, host } = world({ userIds: ['ssh://other.example.org'] });
      t.after(() => w.cleanup());
      host.addUserId(serviceName).certifiedBy(w.alice, serviceName);
      w.import(host.cert);
      assert.equal(w.gpgValidity(host.fpr, serviceName), 'f');
      const r = ssh(w, variant);
      assert.equal(r.status, 0, r.stderr);
    });

    test(`${variant}: a certified name without the port does not vouch for another port: refused`, (t) => {
      const { w, host } = world({ userIds: ['ssh://localhost'] });
      t.after(() => w.cleanup());
      w.import(host.cert);
      assert.equal(w.gpgValidity(host.fpr, 'ssh://localhost'), 'f');
      const r = ssh(w, variant);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /Host key verification failed/);
    });
  }

  test('proxy: a key once accepted leaves known_hosts when its revocation arrives, and ssh refuses it', (t) => {
    const { w, host } = world();
    t.after(() => w.cleanup());
    w.import(host.cert);
    assert.equal(ssh(w, 'proxy').status, 0);
    assert.match(readFileSync(w.knownHosts, 'utf8'), /MonkeySphere/);
    w.import(host.revokeKey(NOW - 60));
    const r = ssh(w, 'proxy');
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(readFileSync(w.knownHosts, 'utf8'), /ssh-ed25519/);
  });

  test("known-hosts-command %H %I: ssh's first call (ORDER, the bare name for another port) asks no keyserver; %H alone still works", (t) => {
    const { w, host } = world();
    t.after(() => w.cleanup());
    w.import(host.cert);
    // CHECK_KEYSERVER unset: the original's policy (ask only for hosts neither the keyring nor
    // known_hosts knows). A keyserver nobody listens on: a search fails at once, and says so.
    const keyserver = { MONKEYSPHERE_CHECK_KEYSERVER: '', MONKEYSPHERE_KEYSERVER: 'hkp://127.0.0.1:9' };
    const withReason = ssh(w, 'known-hosts-command', [], keyserver);
    assert.equal(withReason.status, 0, withReason.stderr);
    assert.doesNotMatch(withReason.stderr, /Failure searching keyserver/);
    // Without %I, ssh's ORDER call (with "localhost", no port) looks like a host nobody knows.
    const withoutReason = ssh(w, 'known-hosts-command', [], keyserver, 'known-hosts-command %H');
    assert.equal(withoutReason.status, 0, withoutReason.stderr);
    assert.match(withoutReason.stderr, /Failure searching keyserver .* for user id 'ssh:\/\/localhost'/);
  });

  test('proxy: a check that cannot be made (trust-model direct) adds no key, and ssh still connects to a host it knows (as 0.43)', (t) => {
    const { w, host } = world();
    t.after(() => w.cleanup());
    w.import(host.cert);
    writeFileSync(join(w.gpg.dir, 'gpg.conf'), 'trust-model direct\n');
    const refused = ssh(w, 'proxy');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /trust-model direct/);
    assert.match(refused.stderr, /was not checked; connecting without Monkeysphere's host keys/);
    assert.match(refused.stderr, /Host key verification failed/, 'ssh, not the ProxyCommand, refused the unknown host');
    // The user's own known_hosts line: ssh connects through the relay.
    writeFileSync(w.knownHosts, `[localhost]:${sshd.port} ${readFileSync(`${hostKey()}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ')}\n`);
    const known = ssh(w, 'proxy');
    assert.equal(known.status, 0, known.stderr);
    assert.match(known.stdout, /logged-in/);
  });

  test('known-hosts-command: HostKeyAlias names the certificate to look for', (t) => {
    const { w, host } = world({ userIds: ['ssh://alias.example.org'] });
    t.after(() => w.cleanup());
    w.import(host.cert);
    const r = ssh(w, 'known-hosts-command', ['-o', 'HostKeyAlias=alias.example.org']);
    assert.equal(r.status, 0, r.stderr);
  });
});
