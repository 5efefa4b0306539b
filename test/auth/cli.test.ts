/**
 * monkeysphere-authentication and monkeysphere-authentication-keys-for-user as commands:
 * the files update-users writes (format, marker, options, raw keys, ownership), that
 * keys-for-user prints exactly that, subcommands and aliases, certifier listing, the
 * gpg-cmd subset, and bad input: malformed lines, unknown users, a flooded certificate,
 * unusable input files. Run in-process except where the compiled command is the point.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes as cryptoRandom } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { UNKNOWN_ISSUER_BUDGET } from '../../src/auth/ingest.js';
import { AuthStore } from '../../src/auth/store.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { AuthServer, ensureBuilt } from './harness.js';
import { NOW, Person } from './pki.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BOB = 'Bob <bob@example.net>';
const MARKER = 'MonkeySphere2023-01-15T00:00:00';

before(() => ensureBuilt());

async function basic(): Promise<{ server: AuthServer; admin: Person; bob: Person; done: () => void }> {
  const server = new AuthServer();
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB, 'Bob at work <bob@work.example.org>']).certifiedBy(admin).certifiedBy(admin, 'Bob at work <bob@work.example.org>');
  await server.ok(['setup']);
  await server.addCertifier(admin);
  await server.importCert(bob);
  return {
    server,
    admin,
    bob,
    done: () => {
      server.cleanup();
      admin.cleanup();
      bob.cleanup();
    },
  };
}

/** Runs the compiled keys-for-user command as sshd would (a fresh process with this environment). */
function spawnKeysForUser(server: AuthServer, user: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/monkeysphere-authentication-keys-for-user.js'), user], { env: server.env, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('update-users output', () => {
  test("writes the original's line format, with options, then the raw authorized_keys' key lines", async () => {
    const { server, bob, done } = await basic();
    try {
      const raw = join(server.home, 'raw_keys');
      writeFileSync(raw, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl hand-added\n', { mode: 0o644 });
      server.env.MONKEYSPHERE_RAW_AUTHORIZED_KEYS = raw;
      server.writeUserIds(`# comment\n\n${BOB}\n no-X11-forwarding\n    no-port-forwarding\n\tcommand="/bin/false"\nBob at work <bob@work.example.org>\n`);
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 0, r.stderr);
      const text = readFileSync(server.authorizedKeysFile, 'utf8');
      assert.equal(
        text,
        `no-X11-forwarding,no-port-forwarding,command="/bin/false" ${bob.sshKey} ${MARKER} ${BOB}\n` +
          `${bob.sshKey} ${MARKER} Bob at work <bob@work.example.org>\n` +
          readFileSync(raw, 'utf8'),
      );
      const st = statSync(server.authorizedKeysFile);
      assert.equal(st.mode & 0o777, 0o640);
      assert.equal(st.uid, 0);
    } finally {
      done();
    }
  });

  test('keys-for-user (subcommand, alias and the standalone command) prints exactly what update-users writes', async () => {
    const { server, done } = await basic();
    try {
      const raw = join(server.home, 'raw_keys');
      writeFileSync(raw, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl raw\n', { mode: 0o644 });
      server.env.MONKEYSPHERE_RAW_AUTHORIZED_KEYS = raw;
      server.writeUserIds(`${BOB}\n no-pty\nBob at work <bob@work.example.org>\n`);
      await server.ok(['update-users', 'root']);
      const written = readFileSync(server.authorizedKeysFile, 'utf8');
      assert.equal((await server.ok(['keys-for-user', 'root'])).stdout, written);
      assert.equal((await server.ok(['k', 'root'])).stdout, written);
      const spawned = spawnKeysForUser(server, 'root');
      assert.equal(spawned.status, 0, spawned.stderr);
      assert.equal(spawned.stdout, written);
    } finally {
      done();
    }
  });

  test('the config file (or MONKEYSPHERE_AUTHENTICATION_CONFIG) sets the paths, with %h and %u; the environment wins', async () => {
    const { server, bob, done } = await basic();
    try {
      const env = server.env;
      delete env.MONKEYSPHERE_AUTHORIZED_USER_IDS;
      delete env.MONKEYSPHERE_RAW_AUTHORIZED_KEYS;
      writeFileSync(join(server.home, 'ids-root'), `${BOB}\n`, { mode: 0o644 });
      writeFileSync(join(server.home, 'raw-root'), 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl raw\n', { mode: 0o644 });
      writeFileSync(
        join(env.MONKEYSPHERE_SYSCONFIGDIR, 'monkeysphere-authentication.conf'),
        `# test config\nAUTHORIZED_USER_IDS="${server.home}/ids-%u"\nRAW_AUTHORIZED_KEYS=${server.home}/raw-%u\nLOG_LEVEL=error\n`,
      );
      await server.ok(['update-users', 'root']);
      const both = `${bob.sshKey} ${MARKER} ${BOB}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl raw\n`;
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), both);
      const other = join(server.root, 'other.conf');
      writeFileSync(other, 'RAW_AUTHORIZED_KEYS=none\nAUTHORIZED_USER_IDS=%h/nothing-here\n');
      env.MONKEYSPHERE_AUTHENTICATION_CONFIG = other;
      env.MONKEYSPHERE_AUTHORIZED_USER_IDS = join(server.home, 'ids-%u');
      await server.ok(['update-users', 'root']);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
    } finally {
      done();
    }
  });

  test('an empty list removes the file; a list with nothing valid removes it too', async () => {
    const { server, done } = await basic();
    try {
      server.writeUserIds(`${BOB}\n`);
      await server.ok(['update-users', 'root']);
      assert.ok(existsSync(server.authorizedKeysFile));
      server.writeUserIds('# nobody any more\n');
      await server.ok(['u', 'root']);
      assert.ok(!existsSync(server.authorizedKeysFile));
      server.writeUserIds(`${BOB}\n`);
      await server.ok(['update', 'root']);
      server.writeUserIds('Nobody Certified <nobody@example.net>\n');
      await server.ok(['update-user', 'root']);
      assert.ok(!existsSync(server.authorizedKeysFile));
    } finally {
      done();
    }
  });

  test('an authorized_user_ids that is not a regular file counts as empty, so it cannot freeze access, and exits 1', async () => {
    const { server, done } = await basic();
    try {
      server.writeUserIds(`${BOB}\n`);
      await server.ok(['update-users', 'root']);
      rmSync(server.uidsFile);
      mkdirSync(server.uidsFile);
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /authorized_user_ids' is not a regular file; not using/);
      assert.ok(!existsSync(server.authorizedKeysFile));
    } finally {
      done();
    }
  });
});

test('the login path stays lean: no commander, keyserver client or trust code when the answer is precomputed', async () => {
  const { server, done } = await basic();
  try {
    server.writeUserIds(`${BOB}\n`);
    await server.ok(['update-users', 'root']);
    const hooks = join(server.root, 'hooks.mjs');
    writeFileSync(hooks, `export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOAD ' + r.url + '\\n'); return r; }\n`);
    const reg = join(server.root, 'register.mjs');
    writeFileSync(reg, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
    // The module graph, in dist/ (the bundle keeps its lazy imports lazy: each module is
    // initialised where it was imported).
    const runner = join(server.root, 'runner.mjs');
    writeFileSync(runner, `const { main } = await import(${JSON.stringify(`file://${join(ROOT, 'dist/cli/monkeysphere-authentication-keys-for-user.js')}`)});\nprocess.exitCode = await main(process.argv.slice(2));\n`);
    const r = spawnSync(process.execPath, ['--import', reg, runner, 'root'], { env: server.env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const loaded = r.stderr.split('\n').filter((l) => l.startsWith('LOAD ')).map((l) => l.slice(5));
    assert.ok(loaded.some((u) => u.endsWith('/dist/auth/store.js')), 'the hook saw the modules');
    for (const heavy of ['commander', '/keyserver/client.js', '/keyserver/hkp.js', '/wot/', '/cert/evaluate.js', '/verify/verifier.js', '/auth/compute.js']) {
      assert.ok(!loaded.some((u) => u.includes(heavy)), `${heavy} loaded on the login path`);
    }
    // What the shim runs, the bundle: of node_modules only better-sqlite3 is loaded.
    const requires = join(server.root, 'requires.cjs');
    writeFileSync(requires, `const M = require('node:module'); const load = M._load; M._load = function (r, p, ...a) { process.stderr.write('REQUIRE ' + (p?.filename ?? '-') + ' ' + r + '\\n'); return load.call(this, r, p, ...a); };\n`);
    const b = spawnSync(process.execPath, ['--require', requires, join(ROOT, 'bin/monkeysphere-authentication-keys-for-user.js'), 'root'], { env: server.env, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    const required = b.stderr.split('\n').filter((l) => l.startsWith('REQUIRE ')).map((l) => l.slice(8).split(' '));
    const byBundle = required.filter(([from]) => from.endsWith('/dist/bundle/monkeysphere-authentication-keys-for-user.cjs')).map(([, r]) => r);
    assert.ok(byBundle.length > 0, `the bundle is run: ${required.join(' ')}`);
    assert.deepEqual(byBundle.filter((r) => !r.startsWith('node:')), ['better-sqlite3'], byBundle.join(' '));
  } finally {
    done();
  }
});

describe('bad input', () => {
  test('a malformed authorized_user_ids line is reported with its line number and skipped; the other lines still count', async () => {
    const { server, bob, done } = await basic();
    try {
      server.writeUserIds(`Broken\u0007line <x@example.net>\n${BOB}\n`);
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /authorized_user_ids:1: control character in line/);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
      const k = await server.run(['keys-for-user', 'root']);
      assert.equal(k.status, 0);
      assert.equal(k.stdout, `${bob.sshKey} ${MARKER} ${BOB}\n`);
      assert.match(k.stderr, /control character in line/);
    } finally {
      done();
    }
  });

  test('an unknown user is reported; the other accounts are still updated', async () => {
    const { server, bob, done } = await basic();
    try {
      server.writeUserIds(`${BOB}\n`);
      const r = await server.run(['update-users', 'no-such-user-here', 'root']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /unknown user 'no-such-user-here'/);
      assert.ok(!existsSync(join(server.dataDir, 'authorized_keys', 'no-such-user-here')));
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
      const k = await server.run(['keys-for-user', 'no-such-user-here']);
      assert.equal(k.status, 3);
      assert.equal(k.stdout, '');
      assert.match(k.stderr, /^monkeysphere-authentication: error: unknown user "no-such-user-here"$/m);
      const spawned = spawnKeysForUser(server, 'no-such-user-here');
      assert.equal(spawned.status, 3);
      assert.equal(spawned.stdout, '');
    } finally {
      done();
    }
  });

  test('a certificate flooded with 100,000 bogus certifications changes nothing', async () => {
    const { server, bob, done } = await basic();
    try {
      server.writeUserIds(`${BOB}\n`);
      await server.ok(['update-users', 'root']);
      const before = readFileSync(server.authorizedKeysFile, 'utf8');
      const flooded = flood(bob.bytes, BOB, 100_000);
      const imported = await server.run(['gpg-cmd', '--import'], flooded);
      assert.equal(imported.status, 0, imported.stderr);
      const store = await AuthStore.open(join(server.dataDir, 'authentication', 'store.sqlite'));
      try {
        const stored = await store.certs.get(bob.fpr);
        assert.ok(stored);
        // The ingest path keeps the self-signature, the certifier's certification and the budget (src/auth/ingest.ts).
        assert.equal(stored.cert.users[0].signatures.length, 2 + UNKNOWN_ISSUER_BUDGET);
      } finally {
        await store.close();
      }
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), before);
      const spawned = spawnKeysForUser(server, 'root');
      assert.equal(spawned.status, 0, spawned.stderr);
      assert.equal(spawned.stdout, before);
    } finally {
      done();
    }
  });

  test('a damaged store stops update-users before any file is touched (exit 4); keys-for-user fails cleanly', async () => {
    const { server, bob, done } = await basic();
    try {
      server.writeUserIds(`${BOB}\n`);
      await server.ok(['update-users', 'root']);
      const store = join(server.dataDir, 'authentication', 'store.sqlite');
      for (const f of [store, `${store}-wal`, `${store}-shm`]) rmSync(f, { force: true });
      writeFileSync(store, Buffer.alloc(8192, 0x5a));
      const r = await server.run(['update-users', 'root']);
      assert.equal(r.status, 4, r.stderr);
      assert.match(r.stderr, /^monkeysphere-authentication: error: .*database/m);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
      const k = spawnKeysForUser(server, 'root');
      assert.equal(k.status, 4, k.stderr);
      assert.equal(k.stdout, '');
    } finally {
      done();
    }
  });

  test('unknown subcommands, missing arguments and bad options are usage errors (exit 2)', async () => {
    const server = new AuthServer();
    try {
      const none = await server.run([]);
      assert.equal(none.status, 2);
      assert.match(none.stderr, /usage: monkeysphere-authentication/);
      const bad = await server.run(['frobnicate']);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /unknown command: "frobnicate"/);
      assert.equal(bad.stderr.match(/frobnicate/g)?.length, 1, 'the error is said once');
      const option = await server.run(['update-users', '--frobnicate']);
      assert.equal(option.status, 2);
      assert.match(option.stderr, /^monkeysphere-authentication: error: unknown option '--frobnicate'$/m);
      assert.equal((await server.run(['keys-for-user'])).status, 2);
      const trust = await server.run(['add-id-certifier', '-t', 'partial', '-']);
      assert.equal(trust.status, 2);
      assert.match(trust.stderr, /only 'marginal' or 'full' are supported/);
      assert.equal((await server.run(['c+', '--depth', '0', '-'])).status, 2);
      assert.equal((await server.run(['c+', '--domain', 'exa mple.org', '-'])).status, 2);
      const k = spawnKeysForUser(server, '');
      assert.equal(k.status, 2);
    } finally {
      server.cleanup();
    }
  });

  test('a file with two keys, or no key, is refused as a certifier', async () => {
    const server = new AuthServer();
    const a = new Person(['A <a@example.net>']);
    const b = new Person(['B <b@example.net>']);
    try {
      const two = await server.run(['add-id-certifier', '-'], Buffer.concat([a.bytes, b.bytes]));
      assert.equal(two.status, 3);
      assert.match(two.stderr, /not exactly one key/);
      const junk = await server.run(['add-id-certifier', '-'], 'hello\n');
      assert.equal(junk.status, 3);
      assert.equal((await server.ok(['list-id-certifiers'])).stdout, '');
    } finally {
      server.cleanup();
      a.cleanup();
      b.cleanup();
    }
  });
});

describe('subcommands', () => {
  test('help, version and the setup alias', async () => {
    const server = new AuthServer();
    try {
      for (const h of ['help', 'h', '?', '--help', '-h']) {
        const r = await server.ok([h]);
        assert.match(r.stdout, /add-id-certifier \(c\+\)/);
      }
      for (const v of ['version', 'v', '--version']) assert.match((await server.ok([v])).stdout, /^\d+\.\d+\.\d+\n$/, 'the bare version, as the original echoes $VERSION');
      await server.ok(['s']);
      const core = readFileSync(join(server.dataDir, 'authentication', 'core', 'core-secret.pgp'));
      assert.equal(statSync(join(server.dataDir, 'authentication', 'core', 'core-secret.pgp')).mode & 0o777, 0o600);
      const sec = readCerts(core).certs[0];
      assert.ok(sec.secret);
      assert.match(sec.users[0].text, /^Monkeysphere authentication trust core UID \(random string: [A-Za-z0-9+/]{28}\)$/);
      // A second setup keeps the same core.
      await server.ok(['setup']);
      assert.deepEqual(readFileSync(join(server.dataDir, 'authentication', 'core', 'core-secret.pgp')), core);
    } finally {
      server.cleanup();
    }
  });

  test("list-id-certifiers prints the original's format: domain regex colon-escaped, amount 60/120, depth", async () => {
    const server = new AuthServer();
    const full = new Person(['Full <full@example.net>', 'Full: second id <full2@example.net>']);
    const marginal = new Person(['Marginal <m@example.org>']);
    const deep = new Person(['Deep <deep@example.com>']);
    try {
      await server.ok(['setup']);
      await server.addCertifier(full, ['--domain', 'my-dom.org']);
      await server.ok(['add-certifier', '-t', 'marginal', '-'], marginal.bytes);
      await server.ok(['add-identity-certifier', '-d', '2', '-'], deep.bytes);
      const out = (await server.ok(['c'])).stdout;
      const expected = new Map([
        [full.fpr, `${full.fpr}:\n :Full <full@example.net>:1:120:<[^>]+[@.]my\\x5c-dom\\x5c.org>$\n :Full\\x3a second id <full2@example.net>:1:120:<[^>]+[@.]my\\x5c-dom\\x5c.org>$\n`],
        [marginal.fpr, `${marginal.fpr}:\n :Marginal <m@example.org>:1:60:\n`],
        [deep.fpr, `${deep.fpr}:\n :Deep <deep@example.com>:2:120:\n`],
      ]);
      assert.equal(out, [...expected.values()].join(''));
      for (const alias of ['list-certifiers', 'list-identity-certifiers', 'list-id-certifiers']) assert.equal((await server.ok([alias])).stdout, out);
      await server.ok(['c-', marginal.fpr.slice(-16)]);
      assert.equal((await server.ok(['c'])).stdout, expected.get(full.fpr)! + expected.get(deep.fpr)!);
      const notOne = await server.run(['remove-id-certifier', marginal.fpr]);
      assert.equal(notOne.status, 3);
      assert.match(notOne.stderr, /is not an identity certifier/);
    } finally {
      server.cleanup();
      for (const p of [full, marginal, deep]) p.cleanup();
    }
  });

  test('with PROMPT=true, remove-id-certifier asks (Y/n) and does nothing on no or on no answer', async () => {
    const { server, admin, done } = await basic();
    try {
      server.env.MONKEYSPHERE_PROMPT = 'true';
      const no = await server.run(['remove-id-certifier', admin.fpr], 'n\n');
      assert.equal(no.status, 2);
      assert.match(no.stderr, /Really remove the above listed identity certifier\? \(Y\/n\)/);
      assert.match(no.stderr, /identity certifier not removed/);
      assert.match((await server.ok(['list-id-certifiers'])).stdout, new RegExp(`^${admin.fpr}:`));
      // No answer at all (end of input) is no yes: the original's read fails there and set -e stops it.
      const eof = await server.run(['remove-id-certifier', admin.fpr], '');
      assert.equal(eof.status, 2);
      assert.match(eof.stderr, /identity certifier not removed/);
      assert.match((await server.ok(['list-id-certifiers'])).stdout, new RegExp(`^${admin.fpr}:`));
      const yes = await server.run(['remove-id-certifier', admin.fpr], '\n');
      assert.equal(yes.status, 0, yes.stderr);
      assert.equal((await server.ok(['list-id-certifiers'])).stdout, '');
    } finally {
      done();
    }
  });

  test('gpg-cmd: --import, --export, --list-keys (with colons); anything else is not supported', async () => {
    const { server, bob, admin, done } = await basic();
    try {
      const exported = await server.ok(['gpg-cmd', '--export', bob.fpr]);
      const back = readCerts(exported.stdoutBytes).certs;
      assert.equal(back.length, 1);
      assert.equal(back[0].primary.fpr, bob.fpr);
      const armored = await server.ok(['gpg-cmd', '--armor', '--export', bob.fpr]);
      assert.match(armored.stdout, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
      // The core's local trust signatures never leave the store.
      const adminOut = readCerts((await server.ok(['gpg-cmd', '--export', admin.fpr])).stdoutBytes).certs[0];
      assert.ok(adminOut.users.every((u) => u.signatures.every((s) => s.sig?.exportable !== false)));
      const list = await server.ok(['gpg-cmd', '--list-keys', '--with-colons', bob.fpr]);
      assert.match(list.stdout, new RegExp(`^pub:f:255:22:${bob.fpr.slice(-16)}:\\d+:::-:::scSCA:$`, 'm'));
      assert.match(list.stdout, /^uid:f::::\d*::::Bob <bob@example.net>:/m);
      assert.match(list.stdout, /^sub:f:255:22:[0-9A-F]{16}:\d+::::::a:$/m);
      const human = await server.ok(['gpg-cmd', '--list-keys']);
      assert.match(human.stdout, /uid {11}\[ {2}full {2}\] Bob <bob@example.net>/);
      assert.match(human.stdout, /uid {11}\[ultimate\] Monkeysphere authentication trust core UID/);
      const again = await server.run(['gpg-cmd', '--import'], armored.stdout);
      assert.equal(again.status, 0);
      assert.match(again.stderr, /not changed/);
      const unsupported = await server.run(['gpg-cmd', '--delete-secret-keys', bob.fpr]);
      assert.equal(unsupported.status, 3);
      assert.match(unsupported.stderr, /gpg option "--delete-secret-keys" is not supported/);
      assert.equal((await server.run(['gpg-cmd', '--edit-key', bob.fpr])).status, 3);
      const missing = await server.run(['gpg-cmd', '--list-keys', 'DEADBEEFDEADBEEF']);
      assert.equal(missing.status, 3);
    } finally {
      done();
    }
  });

  test('diagnostics reports a missing certifier and an sshd that does not ask Monkeysphere', async () => {
    const server = new AuthServer();
    try {
      // A fake sshd -T for a config that only reads ~/.ssh/authorized_keys.
      const fake = join(server.root, 'sshd');
      writeFileSync(fake, '#!/bin/sh\necho "authorizedkeysfile .ssh/authorized_keys"\necho "authorizedkeyscommand none"\n');
      chmodSync(fake, 0o755);
      server.env.MONKEYSPHERE_SSHD = fake;
      const r = await server.run(['diagnostics']);
      assert.equal(r.status, 1);
      assert.match(r.stdout, /! No Identity Certifiers found!/);
      assert.match(r.stdout, /! sshd does not consult monkeysphere authorized keys/);
      const admin = new Person(['Admin <admin@example.net>']);
      await server.addCertifier(admin);
      writeFileSync(fake, `#!/bin/sh\necho "authorizedkeysfile ${server.dataDir}/authorized_keys/%u"\n`);
      const good = await server.run(['d']);
      assert.equal(good.status, 0, good.stdout);
      assert.match(good.stdout, /Everything seems to be in order!/);
      admin.cleanup();
    } finally {
      server.cleanup();
    }
  });

  test('concurrent update-users runs are serialized by the lock and both succeed', async () => {
    const { server, bob, done } = await basic();
    try {
      server.writeUserIds(`${BOB}\n`);
      const [a, b] = await Promise.all([server.run(['update-users', 'root']), server.run(['update-users', 'root'])]);
      assert.equal(a.status, 0, a.stderr);
      assert.equal(b.status, 0, b.stderr);
      assert.equal(readFileSync(server.authorizedKeysFile, 'utf8'), `${bob.sshKey} ${MARKER} ${BOB}\n`);
    } finally {
      done();
    }
  });
});

/**
 * `bytes` (one certificate) with `count` bogus certifications of `userId` after its
 * self-signature: random issuers, random signature values, well-formed packets.
 */
export function flood(bytes: Buffer, userId: string, count: number): Buffer {
  const cert = readCerts(bytes).certs[0];
  const user = cert.users.find((u) => u.text === userId)!;
  const after = user.signatures[user.signatures.length - 1].packet.raw;
  const sigs: Buffer[] = [];
  const rnd = Buffer.alloc(count * 84);
  for (let i = 0; i < rnd.length; i += 65536) rnd.set(cryptoRandom(Math.min(65536, rnd.length - i)), i);
  for (let i = 0; i < count; i++) {
    const r = rnd.subarray(i * 84, (i + 1) * 84);
    const fpr = r.subarray(0, 20);
    const hashed = Buffer.concat([Buffer.from([5, 2]), u32(NOW - 1000 - i), Buffer.from([22, 33, 4]), fpr]);
    const unhashed = Buffer.concat([Buffer.from([9, 16]), fpr.subarray(12)]);
    const body = Buffer.concat([
      Buffer.from([4, 0x10, 22, 8]),
      u16(hashed.length),
      hashed,
      u16(unhashed.length),
      unhashed,
      r.subarray(20, 22),
      Buffer.from([0x01, 0x00]),
      r.subarray(22, 54),
      Buffer.from([0x01, 0x00]),
      r.subarray(52, 84),
    ]);
    sigs.push(Buffer.concat([Buffer.from([0xc2, 0xff]), u32(body.length), body]));
  }
  const out: Buffer[] = [];
  for (const p of cert.packets) {
    out.push(p.raw);
    if (p.raw === after) out.push(...sigs);
  }
  return Buffer.concat(out);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

