/**
 * monkeysphere's subcommands, aliases, files and exit statuses (0.43's: failures exit 255),
 * run in-process against a real GnuPG home, with gpg and ssh-keygen as oracles; bad input
 * (host names, garbage known_hosts, an unusable GnuPG home, bad permissions, a dead or slow
 * keyserver) never corrupts a file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/monkeysphere.js';
import { Person } from '../auth/pki.js';
import { runCli } from '../helpers/run-cli.js';
import { NOW, World } from './world.js';

const HOST = 'ssh://h.example.org';

/** Bob's world with a host certified by Alice (fully trusted): `ssh://h.example.org`, Ed25519. */
function hostWorld(aliceTrust = 5) {
  const w = new World();
  const host = new Person([HOST], { authSubkey: false });
  w.people.push(host);
  host.certifiedBy(w.alice, HOST);
  w.import(host.cert);
  w.ownertrust(w.alice, aliceTrust);
  return { w, host };
}

const run = (w: World, args: string[], env: NodeJS.ProcessEnv = {}) => runCli(main, args, { env: w.env(env) });

test('help, version, no subcommand and unknown subcommands as 0.43', async (t) => {
  const w = new World();
  t.after(() => w.cleanup());
  for (const h of ['help', '--help', '-h', 'h', '?']) {
    const r = await run(w, [h]);
    assert.equal(r.code, 0);
    assert.match(r.text, /^usage: monkeysphere <subcommand> \[options\] \[args\]\n/);
    assert.match(r.text, /update-known_hosts \(k\)/);
  }
  for (const v of ['version', '--version', 'v']) assert.match((await run(w, [v])).text, /^\d+\.\d+\.\d+\n$/);
  const none = await run(w, []);
  assert.equal(none.code, 255);
  assert.match(none.stderr, /Please supply a subcommand\.\n$/);
  const unknown = await run(w, ['frobnicate']);
  assert.equal(unknown.code, 255);
  assert.equal(unknown.stderr, "Unknown command: 'frobnicate'\nTry 'monkeysphere help' for usage.\n");
  const imp = await run(w, ['import-subkey']);
  assert.equal(imp.code, 255);
  assert.match(imp.stderr, /import-subkey is not implemented yet/);
});

test('keys-for-userid (u, keys-from-userid) prints the valid keys as gpg --export-ssh-key does; sshfprs-for-userid their fingerprints', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  const expected = `${w.gpg.ok(['--export-ssh-key', `${host.fpr}!`]).stdout.split(' ').slice(0, 2).join(' ')}\n`;
  for (const alias of ['keys-for-userid', 'u', 'keys-from-userid']) {
    const r = await run(w, [alias, HOST]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.text, expected);
    if (alias === 'keys-from-userid') assert.match(r.stderr, /'keys-from-userid' is deprecated/);
  }
  const fprs = await run(w, ['sshfprs-for-userid', HOST]);
  const keygen = spawnSync('ssh-keygen', ['-l', '-f', '-'], { input: expected, encoding: 'utf8' }).stdout.split(' ')[1];
  assert.equal(fprs.text, `${keygen}\n`);
  // No such user ID: nothing printed, still 0 (0.43).
  const none = await run(w, ['u', 'ssh://nowhere.example.org']);
  assert.deepEqual([none.code, none.text], [0, '']);
  const usage = await run(w, ['u']);
  assert.equal(usage.code, 255);
});

test('validity equals gpg for every host and user ID: full, marginal, none, revoked, expired certification, disabled key', async (t) => {
  const w = new World();
  t.after(() => w.cleanup());
  const carol = new Person(['Carol <carol@example.net>']).certifiedBy(w.bob);
  const hosts = {
    full: new Person(['ssh://full.example.org'], { authSubkey: false }).certifiedBy(w.alice),
    marginal: new Person(['ssh://marginal.example.org'], { authSubkey: false }).certifiedBy(carol),
    none: new Person(['ssh://none.example.org'], { authSubkey: false }),
    revoked: new Person(['ssh://revoked.example.org'], { authSubkey: false }).certifiedBy(w.alice),
    subkey: new Person(['ssh://subkey.example.org']).certifiedBy(w.alice),
    disabled: new Person(['ssh://disabled.example.org'], { authSubkey: false }).certifiedBy(w.alice),
  };
  hosts.revoked.revokeKey(NOW - 60);
  w.people.push(carol, ...Object.values(hosts));
  w.import(carol.cert, ...Object.values(hosts).map((h) => h.cert));
  w.ownertrust(w.alice, 5);
  w.ownertrust(carol, 4);
  w.ownertrust(hosts.disabled, 128);
  const letters: Record<string, string | undefined> = {};
  for (const [name, h] of Object.entries(hosts)) {
    const uid = h.userIds[0];
    letters[name] = w.gpgValidity(h.fpr, uid);
    const ours = await run(w, ['u', uid], { MONKEYSPHERE_LOG_LEVEL: 'DEBUG' });
    const valid = letters[name] === 'f' || letters[name] === 'u';
    const disabled = name === 'disabled';
    assert.equal(ours.text !== '', valid && !disabled, `${name}: gpg says ${letters[name]}, we printed ${JSON.stringify(ours.text)}`);
  }
  assert.deepEqual(letters, { full: 'f', marginal: 'm', none: '-', revoked: 'r', subkey: 'f', disabled: 'f' });
  // Of a certificate with an authentication subkey, the subkey is the key.
  assert.equal((await run(w, ['u', 'ssh://subkey.example.org'])).text, `${hosts.subkey.sshKey}\n`);
  // Person user IDs answer too, from the same index.
  assert.equal((await run(w, ['u', 'Alice <alice@example.org>'])).text, `${w.alice.sshKey}\n`);
  // gpg.conf's trust settings count: with completes-needed 2, Alice alone makes it marginal.
  writeFileSync(join(w.gpg.dir, 'gpg.conf'), 'no-auto-check-trustdb\ncompletes-needed 2\n');
  assert.equal(w.gpgValidity(hosts.full.fpr, 'ssh://full.example.org'), 'm');
  assert.equal((await run(w, ['u', 'ssh://full.example.org'])).text, '');
});

test('the GnuPG home: MONKEYSPHERE_GNUPGHOME, then GNUPGHOME in monkeysphere.conf, then $GNUPGHOME', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  const empty = join(w.home, 'empty-gnupg');
  mkdirSync(join(w.home, '.monkeysphere'), { recursive: true });
  assert.equal((await run(w, ['u', HOST])).text, `${host.sshKey}\n`);
  assert.equal((await run(w, ['u', HOST], { MONKEYSPHERE_GNUPGHOME: empty })).text, '');
  writeFileSync(join(w.home, '.monkeysphere', 'monkeysphere.conf'), `GNUPGHOME=${empty}\n`);
  assert.equal((await run(w, ['u', HOST])).text, '');
  assert.equal((await run(w, ['u', HOST], { MONKEYSPHERE_GNUPGHOME: w.gpg.dir })).text, `${host.sshKey}\n`);
});

test('update-known_hosts (k): writes 0.43 lines, removes keys that stopped being valid, --exit-status tells found/valid', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  for (const alias of ['update-known_hosts', 'update-known-hosts', 'k']) {
    const r = await run(w, [alias, 'h.example.org', 'h.example.org:2222']);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal(readFileSync(w.knownHosts, 'utf8'), `h.example.org ${host.sshKey} MonkeySphere2023-01-15T00:00:00\n`);
  assert.equal((await run(w, ['k', '--exit-status', 'h.example.org'])).code, 0);
  assert.equal((await run(w, ['k', '--exit-status', 'nowhere.example.org'])).code, 1);
  // With no host: every host of known_hosts.
  w.import(host.revokeKey(NOW - 60));
  const r = await run(w, ['k', '--exit-status']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(readFileSync(w.knownHosts, 'utf8'), '');
  assert.equal((await run(w, ['k'])).code, 0);
});

test('update-known_hosts with HASH_KNOWN_HOSTS=true writes hashed lines ssh-keygen finds', async (t) => {
  const { w } = hostWorld();
  t.after(() => w.cleanup());
  assert.equal((await run(w, ['k', 'h.example.org'], { MONKEYSPHERE_HASH_KNOWN_HOSTS: 'true' })).code, 0);
  assert.match(readFileSync(w.knownHosts, 'utf8'), /^\|1\|/);
  assert.equal(spawnSync('ssh-keygen', ['-F', 'h.example.org', '-f', w.knownHosts]).status, 0);
});

test('bad input: a host with shell metacharacters, a missing known_hosts, garbage lines, bad permissions', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  const meta = await run(w, ['k', 'h.example.org;touch /tmp/pwned']);
  assert.equal(meta.code, 255);
  assert.match(meta.stderr, /not a host name or address/);
  assert.ok(!existsSync(w.knownHosts));
  const missing = await run(w, ['k']);
  assert.equal(missing.code, 255);
  assert.match(missing.stderr, /known_hosts file '.*' does not exist\./);
  const garbage = `# comment\n\x00\x01garbage line\nh.example.org ${host.sshKey}\n`;
  writeFileSync(w.knownHosts, garbage);
  const g = await run(w, ['k', 'h.example.org']);
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stderr, /known_hosts:2: not a known_hosts line; left as it is/);
  assert.equal(readFileSync(w.knownHosts, 'utf8'), garbage);
  chmodSync(join(w.home, '.ssh'), 0o777);
  const perms = await run(w, ['k', 'h.example.org']);
  assert.equal(perms.code, 255);
  assert.match(perms.stderr, /Bad permissions governing known_hosts file .*improper (group|other) writability/);
  assert.equal((await run(w, ['k', 'h.example.org'], { MONKEYSPHERE_STRICT_MODES: 'false' })).code, 0);
  chmodSync(join(w.home, '.ssh'), 0o700);
});

test("0.43's sample configuration: ~/ in monkeysphere.conf is the home, wherever the command runs", async (t) => {
  const { w } = hostWorld();
  t.after(() => w.cleanup());
  mkdirSync(join(w.home, '.monkeysphere'), { recursive: true });
  writeFileSync(join(w.home, '.monkeysphere', 'monkeysphere.conf'), 'KNOWN_HOSTS=~/.ssh/known_hosts.ms\n');
  const r = await runCli(main, ['k', 'h.example.org'], { env: w.env(), cwd: w.gpg.dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(readFileSync(join(w.home, '.ssh', 'known_hosts.ms'), 'utf8'), /^h\.example\.org ssh-/m);
  assert.equal(existsSync(join(w.gpg.dir, '~')), false);
});

test('an unusable GnuPG home: a clear error, exit 255, known_hosts untouched', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  const before = `h.example.org ${host.sshKey} MonkeySphere2020-01-01T00:00:00\n`;
  writeFileSync(w.knownHosts, before);
  const notHome = join(w.home, 'not-a-home');
  writeFileSync(notHome, 'x');
  const r = await run(w, ['k', 'h.example.org'], { GNUPGHOME: notHome });
  assert.equal(r.code, 255);
  assert.match(r.stderr, /monkeysphere: error: cannot use the GnuPG home ".*not-a-home"/);
  assert.equal(readFileSync(w.knownHosts, 'utf8'), before);
  writeFileSync(join(w.gpg.dir, 'gpg.conf'), 'trust-model direct\n');
  const model = await run(w, ['u', HOST]);
  assert.equal(model.code, 255);
  assert.match(model.stderr, /trust-model direct; only the pgp and classic models are computed/);
});

/** A keyserver on loopback that answers after `delayMs` (never, when Infinity), counting requests. */
async function slowKeyserver(delayMs: number): Promise<{ server: Server; url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    if (Number.isFinite(delayMs)) setTimeout(() => res.writeHead(404).end(), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `hkp://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

test('a slow keyserver: bounded by KEYSERVER_TIMEOUT, the known_hosts lock not held meanwhile, the local answer still written', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  const ks = await slowKeyserver(Number.POSITIVE_INFINITY);
  t.after(() => ks.server.closeAllConnections());
  t.after(() => ks.server.close());
  let lockSeen = false;
  const watcher = setInterval(() => {
    if (ks.requests() > 0 && existsSync(`${w.knownHosts}.lock`)) lockSeen = true;
  }, 20);
  const started = Date.now();
  const r = await run(w, ['k', 'h.example.org'], { MONKEYSPHERE_CHECK_KEYSERVER: 'true', MONKEYSPHERE_KEYSERVER: ks.url, MONKEYSPHERE_KEYSERVER_TIMEOUT: '2' });
  clearInterval(watcher);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(ks.requests() > 0);
  assert.ok(Date.now() - started < 15_000);
  assert.ok(!lockSeen, 'the lock was held during the keyserver lookup');
  assert.match(r.stderr, /Failure searching keyserver hkp:\/\/127\.0\.0\.1:\d+ for user id 'ssh:\/\/h\.example\.org'/);
  assert.equal(readFileSync(w.knownHosts, 'utf8'), `h.example.org ${host.sshKey} MonkeySphere2023-01-15T00:00:00\n`);
});

test('an unreachable keyserver: an error line, then the local keyring answers', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  const r = await run(w, ['u', HOST], { MONKEYSPHERE_CHECK_KEYSERVER: 'true', MONKEYSPHERE_KEYSERVER: 'hkp://127.0.0.1:1' });
  assert.equal(r.code, 0);
  assert.equal(r.text, `${host.sshKey}\n`);
  assert.match(r.stderr, /ms: Failure searching keyserver hkp:\/\/127\.0\.0\.1:1/);
});

test('ssh-proxycommand asks the keyserver only for hosts neither the keyring nor known_hosts knows', async (t) => {
  const { w } = hostWorld();
  t.after(() => w.cleanup());
  const ks = await slowKeyserver(0);
  t.after(() => ks.server.close());
  const env = { MONKEYSPHERE_CHECK_KEYSERVER: '', MONKEYSPHERE_KEYSERVER: ks.url };
  assert.equal((await run(w, ['p', '--no-connect', 'h.example.org'], env)).code, 0);
  assert.equal(ks.requests(), 0, 'in the keyring');
  writeFileSync(w.knownHosts, `known.example.org ${w.alice.sshKey}\n`);
  assert.equal((await run(w, ['p', '--no-connect', 'known.example.org'], env)).code, 0);
  assert.equal(ks.requests(), 0, 'in known_hosts');
  assert.equal((await run(w, ['p', '--no-connect', 'new.example.org'], env)).code, 0);
  assert.ok(ks.requests() > 0, 'unknown: asked');
  const n = ks.requests();
  // CHECK_KEYSERVER=false in the environment overrides the policy.
  assert.equal((await run(w, ['p', '--no-connect', 'new2.example.org'], { ...env, MONKEYSPHERE_CHECK_KEYSERVER: 'false' })).code, 0);
  assert.equal(ks.requests(), n);
  const noHost = await run(w, ['p']);
  assert.equal(noHost.code, 255);
  assert.match(noHost.stderr, /ms: Host not specified\./);
});

test('update-authorized_keys (a): user IDs with options, old Monkeysphere lines replaced, other lines kept; exit 255 without authorized_user_ids', async (t) => {
  const w = new World();
  t.after(() => w.cleanup());
  const carl = new Person(['Carl <carl@example.org>']).certifiedBy(w.alice);
  w.people.push(carl);
  w.import(carl.cert);
  w.ownertrust(w.alice, 5);
  const missing = await run(w, ['a']);
  assert.equal(missing.code, 255);
  assert.match(missing.stderr, /empty or absent authorized_user_ids file\./);
  mkdirSync(join(w.home, '.monkeysphere'), { recursive: true, mode: 0o700 });
  writeFileSync(join(w.home, '.monkeysphere', 'authorized_user_ids'), 'Carl <carl@example.org>\n  no-X11-forwarding\n\tcommand="/bin/false"\nNobody <nobody@example.org>\n');
  const ak = join(w.home, '.ssh', 'authorized_keys');
  writeFileSync(ak, `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnkrISoyT7Ihbn6BnSVjl0l35BrWVWPE2UZH/7puwPb mine\n${w.alice.sshKey} MonkeySphere2020-01-01T00:00:00 Alice <alice@example.org>\n`);
  for (const alias of ['update-authorized_keys', 'update-authorized-keys', 'a']) assert.equal((await run(w, [alias])).code, 0);
  assert.equal(
    readFileSync(ak, 'utf8'),
    `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnkrISoyT7Ihbn6BnSVjl0l35BrWVWPE2UZH/7puwPb mine\nno-X11-forwarding,command="/bin/false" ${carl.sshKey} MonkeySphere2023-01-15T00:00:00 Carl <carl@example.org>\n`,
  );
  assert.equal((await run(w, ['a', '--exit-status'])).code, 0);
  w.import(carl.revokeSubkey(NOW - 60));
  assert.equal((await run(w, ['a', '--exit-status'])).code, 2);
  assert.doesNotMatch(readFileSync(ak, 'utf8'), /Carl/);
});

test('the kept answer is used while the keyring is unchanged and recomputed when gpg changes it', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  const debug = { MONKEYSPHERE_LOG_LEVEL: 'DEBUG' };
  assert.match((await run(w, ['u', HOST], debug)).stderr, /: computed$/m);
  assert.match((await run(w, ['u', HOST], debug)).stderr, /: stored$/m);
  w.import(host.revokeKey(NOW - 60));
  const after = await run(w, ['u', HOST], debug);
  assert.match(after.stderr, /: computed$/m);
  assert.equal(after.text, '');
  // Trust changes too (the trustdb).
  const { w: w2, host: h2 } = hostWorld();
  t.after(() => w2.cleanup());
  assert.equal((await run(w2, ['u', HOST])).text, `${h2.sshKey}\n`);
  w2.ownertrust(w2.alice, 4);
  assert.equal((await run(w2, ['u', HOST])).text, '');
});

test('a cache someone else may write is not used: it decides which keys ssh accepts', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  const debug = { MONKEYSPHERE_LOG_LEVEL: 'DEBUG' };
  assert.match((await run(w, ['u', HOST], debug)).stderr, /: computed$/m);
  chmodSync(join(w.home, '.cache', 'monkeysphere'), 0o777);
  const r = await run(w, ['u', HOST], debug);
  assert.match(r.stderr, /ms: not using the cache .*writable by group/);
  assert.match(r.stderr, /: computed$/m);
  assert.equal(r.text, `${host.sshKey}\n`);
});

test('a damaged cache never costs the answer', async (t) => {
  const { w, host } = hostWorld();
  t.after(() => w.cleanup());
  assert.equal((await run(w, ['u', HOST])).text, `${host.sshKey}\n`);
  writeFileSync(join(w.home, '.cache', 'monkeysphere', 'wot-verify.sqlite'), Buffer.alloc(8192, 0x41));
  const r = await run(w, ['u', HOST]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.text, `${host.sshKey}\n`);
});
