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
function ssh(world: World, variant: Variant, extra: string[] = []) {
  writeFileSync(authorizedKeys, `${world.bob.sshKey}\n`, { mode: 0o600 });
  const monkeysphere = `${process.execPath} ${MONKEYSPHERE}`;
  const hostKeyOptions =
    variant === 'proxy'
      ? ['-o', `UserKnownHostsFile=${world.knownHosts}`, '-o', `ProxyCommand=${monkeysphere} ssh-proxycommand %h %p`]
      : ['-o', 'UserKnownHostsFile=/dev/null', '-o', `KnownHostsCommand=${monkeysphere} known-hosts-command %H`];
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
    { env: world.env(), encoding: 'utf8', timeout: 120_000 },
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

  test('known-hosts-command: HostKeyAlias names the certificate to look for', (t) => {
    const { w, host } = world({ userIds: ['ssh://alias.example.org'] });
    t.after(() => w.cleanup());
    w.import(host.cert);
    const r = ssh(w, 'known-hosts-command', ['-o', 'HostKeyAlias=alias.example.org']);
    assert.equal(r.status, 0, r.stderr);
  });
});
