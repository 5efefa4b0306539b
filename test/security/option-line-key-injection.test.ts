/**
 * Attack: key injection through an option line. Under a valid user ID of
 * authorized_user_ids, an indented "option" line that is itself a key
 * (` ssh-ed25519 AAAA… attacker`) would be written in front of the user ID's key, and
 * sshd would read it as the key (0.43 does this). Option lines must be options sshd
 * accepts; otherwise the user ID is dropped (never its restrictions). The validator is
 * checked against a real sshd, and the attack through a real login.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { optionsProblem, parseAuthorizedKeysLine } from '../../src/ssh/authorized-keys.js';
import { Sshd, secureTmpDir } from '../helpers/sshd.js';
import { AuthServer, ensureBuilt } from '../auth/harness.js';
import { Person } from '../auth/pki.js';

const BOB = 'Bob <bob@example.net>';

before(() => ensureBuilt());

describe('an option line that is a key', () => {
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const mallory = new Person(['Mallory <mallory@example.net>']);
  const server = new AuthServer();
  before(async () => {
    await server.ok(['setup']);
    await server.addCertifier(admin);
    await server.importCert(bob);
  });
  after(() => {
    server.cleanup();
    for (const p of [admin, bob, mallory]) p.cleanup();
  });

  test('drops the user ID, grants no key, and says why', async () => {
    server.writeUserIds(`${BOB}\n ${mallory.sshKey} mallory\n`);
    const r = await server.run(['update-users', 'root']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /authorized_user_ids:2: .*user ID on line 1 ignored/);
    const k = await server.run(['keys-for-user', 'root']);
    assert.ok(!k.stdout.includes(mallory.sshKey.split(' ')[1]));
    assert.ok(!k.stdout.includes(bob.sshKey), 'a user ID with a bad option line is dropped, not granted without its options');
  });

  test('through a real sshd: the injected key cannot log in, in file and command mode', async () => {
    server.writeUserIds(`${BOB}\n ${mallory.sshKey} mallory\n`);
    for (const mode of ['file', 'command'] as const) {
      const r = await server.login(mode, mallory);
      assert.equal(r.status, 255, `${mode}: mallory logged in`);
    }
  });

  test('valid options still apply, and the login obeys them', async () => {
    server.writeUserIds(`${BOB}\n command="echo restricted"\n no-pty,NO-X11-FORWARDING\n`);
    const r = await server.login('file', bob, 'echo free');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'restricted\n');
  });
});

/** Options strings, with what sshd (OpenSSH 9.2) does with a key line carrying them. */
const CASES: string[] = [
  'no-pty',
  'NO-PTY',
  'restrict,pty',
  'no-port-forwarding,no-agent-forwarding,no-X11-forwarding',
  'command="true"',
  'command="echo \\"quoted\\""',
  'from="127.0.0.1"',
  'expiry-time="20991231"',
  'permitopen="localhost:80"',
  'environment="A=B"',
  'no-pty,',
  'no-pty,,pty',
  'nopty',
  'command=true',
  'command="true',
  'no-pty="x"',
  'from=',
  ',no-pty',
];

describe('the options validator agrees with a real sshd', () => {
  const person = new Person(['Tester <tester@example.net>']);
  const dir = secureTmpDir('ms-opts-');
  const keysFile = join(dir, 'authorized_keys');
  const sshd = new Sshd({ config: [`AuthorizedKeysFile ${keysFile}`] });
  before(() => sshd.start());
  after(async () => {
    await sshd.stop();
    person.cleanup();
    emptyKeysFile(dir);
  });

  for (const options of CASES) {
    test(JSON.stringify(options), () => {
      writeFileSync(keysFile, `${options} ${person.sshKey} test\n`, { mode: 0o644 });
      const r = sshd.ssh(person.identityFile(), 'true');
      const sshdAccepts = r.status !== 255;
      const ours = optionsProblem(options);
      assert.equal(ours === undefined, sshdAccepts, `sshd ${sshdAccepts ? 'accepts' : 'refuses'}; we say ${ours ?? 'valid'}\n${sshd.log.split('\n').slice(-5).join('\n')}`);
      assert.equal(typeof parseAuthorizedKeysLine(readFileSync(keysFile, 'utf8').trimEnd()) !== 'string', sshdAccepts);
    });
  }
});

function emptyKeysFile(dir: string): void {
  writeFileSync(join(dir, 'authorized_keys'), '');
}
