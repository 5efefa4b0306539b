/**
 * agent-transfer against real agents: a gpg-agent holding passphrase-protected keys (its
 * pinentry is a test script, so the passphrase goes the production way) and a real
 * ssh-agent, checked with ssh-add and ssh-keygen; then a real login through sshd with the
 * transferred key. Bad input and missing agents give the original's messages and exit 1.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SshAgentClient } from '../../src/agent/ssh-agent.js';
import { main } from '../../src/cli/agent-transfer.js';
import { ensureBuilt } from '../auth/harness.js';
import { secureTmpDir, Sshd } from '../helpers/sshd.js';
import { AgentWorld, PASSPHRASE } from './harness.js';

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (s: string | Uint8Array) => (stdout += s.toString()) },
    stderr: { write: (s: string | Uint8Array) => (stderr += s.toString()) },
    stdin: process.stdin,
    env,
    cwd: '/',
  };
  const status = await main(argv, io);
  return { status, stdout, stderr };
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('agent-transfer', () => {
  const w = new AgentWorld();
  let primary = '';
  const sub: Record<'ed25519' | 'rsa' | 'ecdsa', { fpr: string; grip: string; ssh: string }> = {} as never;

  before(async () => {
    primary = w.makeKey('Alice <alice@example.org>', 'rsa2048', 'sign');
    for (const [name, algo] of [['ed25519', 'ed25519'], ['rsa', 'rsa2048'], ['ecdsa', 'nistp256/ecdsa']] as const) {
      const fpr = w.addSubkey(primary, algo, 'auth');
      sub[name] = { fpr, grip: w.keys(fpr).find((k) => k.fpr === fpr)!.grip, ssh: w.sshLine(fpr) };
    }
    // ssh-agent asks this askpass (which says no) before using a key added with -c.
    await w.startSshAgent({ SSH_ASKPASS: join(w.home, 'askpass-no.sh'), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });
  });
  after(() => w.cleanup());

  /** Forgets cached passphrases, so the next export asks the pinentry again. */
  const forgetPassphrases = () => spawnSync('gpgconf', ['--homedir', w.home, '--reload', 'gpg-agent']);

  test('a wrong passphrase (three times) or a cancelled pinentry fails with gpg-agent\'s words, exit 1', async () => {
    w.setPassphrase('not the passphrase');
    const bad = await run([sub.ed25519.grip], w.env());
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, new RegExp(`^agent-transfer: error: failed to export secret key ${sub.ed25519.grip} \\(\\d+\\), Bad passphrase$`, 'm'));
    assert.match(bad.stderr, /^agent-transfer: code: MS_AGENT_GPG_AGENT_ERROR$/m);
    w.setPassphrase('CANCEL');
    const cancelled = await run([sub.ed25519.grip], w.env());
    assert.equal(cancelled.status, 1);
    assert.match(cancelled.stderr, /Operation cancelled/);
    assert.equal(w.sshAdd('-l').status, 1, 'nothing reached ssh-agent');
    w.setPassphrase(PASSPHRASE);
  });

  test('RSA, Ed25519 and ECDSA subkeys reach ssh-agent as gpg --export-ssh-key shows them, with their comments', async () => {
    for (const [name, k] of Object.entries(sub)) {
      const r = await run([k.grip, `Alice ${name}`], w.env());
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '');
    }
    const listed = w.sshAdd('-L').out.trim().split('\n').sort();
    assert.deepEqual(listed, Object.entries(sub).map(([name, k]) => `${k.ssh} Alice ${name}`).sort());
    // The pinentry was asked with the original's description, naming the comment and keygrip.
    assert.match(w.pinentryLog(), new RegExp(`^SETDESC Sending key for 'Alice rsa' from gpg-agent to ssh-agent\\.\\.\\.%0a\\(keygrip: ${sub.rsa.grip}\\)$`, 'm'));
    assert.match(w.pinentryLog(), /^GETPIN$/m);
    assert.equal(spawnSync('ssh-add', ['-D'], { env: { ...process.env, SSH_AUTH_SOCK: w.sshSock } }).status, 0);
  });

  test('the default comment is "GnuPG keygrip KEYGRIP"; a lowercase keygrip works', async () => {
    const r = await run([sub.ed25519.grip.toLowerCase()], w.env());
    assert.equal(r.status, 0, r.stderr);
    assert.equal(w.sshAdd('-L').out.trim(), `${sub.ed25519.ssh} GnuPG keygrip ${sub.ed25519.grip.toLowerCase()}`);
    spawnSync('ssh-add', ['-D'], { env: { ...process.env, SSH_AUTH_SOCK: w.sshSock } });
  });

  test('-t SECONDS: ssh-agent forgets the key when its lifetime ends', async () => {
    const r = await run(['-t', '2', sub.rsa.grip, 'short-lived'], w.env());
    assert.equal(r.status, 0, r.stderr);
    const agent = await SshAgentClient.connect(w.sshSock);
    try {
      assert.deepEqual((await agent.listIdentities()).map((i) => i.comment), ['short-lived']);
      await sleep(3000);
      assert.deepEqual(await agent.listIdentities(), [], 'the key outlived its lifetime');
    } finally {
      agent.close();
    }
  });

  test('-c: each use asks for confirmation; refused, signing fails, while an unconstrained key signs', async () => {
    const dir = w.home;
    const data = join(dir, 'data.txt');
    writeFileSync(data, 'sign me\n');
    const sign = (ssh: string) => {
      writeFileSync(join(dir, 'key.pub'), `${ssh}\n`);
      return spawnSync('ssh-keygen', ['-Y', 'sign', '-n', 'file', '-f', join(dir, 'key.pub'), data], { env: { ...process.env, SSH_AUTH_SOCK: w.sshSock } });
    };
    const c = await run(['-ct', '600', sub.ed25519.grip, 'confirm me'], w.env());
    assert.equal(c.status, 0, c.stderr);
    assert.equal(w.askpassLog(), '');
    assert.notEqual(sign(sub.ed25519.ssh).status, 0, 'a confirm key signed without confirmation');
    assert.match(w.askpassLog(), /confirm me/, 'ssh-agent did not ask');
    const plain = await run([sub.ecdsa.grip, 'no confirm'], w.env());
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(sign(sub.ecdsa.ssh).status, 0, 'the unconstrained key should sign');
    spawnSync('ssh-add', ['-D'], { env: { ...process.env, SSH_AUTH_SOCK: w.sshSock } });
  });

  test('a stopped gpg-agent is launched, as the original', async () => {
    spawnSync('gpgconf', ['--homedir', w.home, '--kill', 'gpg-agent']);
    forgetPassphrases();
    const r = await run([sub.rsa.grip], w.env());
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /could not find gpg-agent, trying to launch it\.\.\./);
    assert.equal(w.sshAdd('-l').status, 0);
    spawnSync('ssh-add', ['-D'], { env: { ...process.env, SSH_AUTH_SOCK: w.sshSock } });
  });

  test('the transferred key logs in to a real sshd', async () => {
    const keys = secureTmpDir('keys-');
    const authorized = join(keys, 'authorized_keys');
    writeFileSync(authorized, `${sub.ed25519.ssh}\n`, { mode: 0o600 });
    const sshd = new Sshd({ config: [`AuthorizedKeysFile ${authorized}`] });
    try {
      await sshd.start();
      assert.equal(sshd.ssh(undefined, 'true', { agentSocket: w.sshSock }).status, 255, 'logged in before the transfer');
      const r = await run([sub.ed25519.grip, 'login key'], w.env());
      assert.equal(r.status, 0, r.stderr);
      const login = sshd.ssh(undefined, 'echo logged-in', { agentSocket: w.sshSock });
      assert.equal(login.status, 0, `${login.stderr}\n${sshd.log}`);
      assert.equal(login.stdout.trim(), 'logged-in');
    } finally {
      await sshd.stop();
      rmSync(keys, { recursive: true, force: true });
      spawnSync('ssh-add', ['-D'], { env: { ...process.env, SSH_AUTH_SOCK: w.sshSock } });
    }
  });

  test('the installed command (bin/agent-transfer.js, built): exit 0 with the key in ssh-agent, 1 on a bad keygrip', () => {
    ensureBuilt();
    const bin = join(ROOT, 'bin', 'agent-transfer.js');
    const ok = spawnSync(process.execPath, [bin, sub.ecdsa.grip, 'from bin'], { env: w.env(), encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(w.sshAdd('-L').out.trim(), `${sub.ecdsa.ssh} from bin`);
    const bad = spawnSync(process.execPath, [bin, 'xyz'], { env: w.env(), encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^agent-transfer: error: keygrip must be 40 hexadecimal digits$/m);
    const help = spawnSync(process.execPath, [bin, '-h'], { env: w.env(), encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage: agent-transfer/);
    spawnSync('ssh-add', ['-D'], { env: { ...process.env, SSH_AUTH_SOCK: w.sshSock } });
  });

  test('-h and --help print the help on stdout and exit 0', async () => {
    for (const flag of ['-h', '--help']) {
      const r = await run([flag], w.env());
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^Usage: agent-transfer \[options\] KEYGRIP \[COMMENT\]$/m);
      assert.match(r.stdout, / -t SECONDS {2}lifetime \(in seconds\) for the key to live in ssh-agent/);
      assert.equal(r.stderr, '');
    }
  });

  test('bad arguments: the original\'s message, then the usage on stderr, exit 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['0123'], /keygrip must be 40 hexadecimal digits/],
      [['Z'.repeat(40)], /keygrip must be 40 hexadecimal digits/],
      [['-t', 'abc', sub.rsa.grip], /lifetime \(seconds\) must be > 0, not "abc"/],
      [['-t', '0', sub.rsa.grip], /lifetime \(seconds\) must be > 0/],
      [[sub.rsa.grip, '-t'], /lifetime \(-t\) needs an argument \(number of seconds\)/],
      [['-x', sub.rsa.grip], /flag not recognized: x/],
      [[sub.rsa.grip, 'comment', 'extra'], /unrecognized argument extra/],
      [[], /a keygrip is required/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv, w.env());
      assert.equal(r.status, 1, argv.join(' '));
      assert.match(r.stderr, new RegExp(`^agent-transfer: error: ${message.source}`, 'm'));
      assert.match(r.stderr, /^agent-transfer: code: MS_AGENT_USAGE$/m);
      assert.match(r.stderr, /^Usage: agent-transfer \[options\] KEYGRIP \[COMMENT\]$/m);
      assert.equal(r.stdout, '');
    }
  });

  test('a keygrip gpg-agent has no key for: "No secret key", exit 1', async () => {
    const r = await run(['0'.repeat(40)], w.env());
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^agent-transfer: error: failed to export secret key 0{40} \(\d+\), No secret key$/m);
    assert.match(r.stderr, /^agent-transfer: code: MS_AGENT_NO_SECRET_KEY$/m);
  });

  test('no ssh-agent: SSH_AUTH_SOCK unset or pointing nowhere, exit 1', async () => {
    const unset = w.env();
    delete unset.SSH_AUTH_SOCK;
    const r1 = await run([sub.rsa.grip], unset);
    assert.equal(r1.status, 1);
    assert.match(r1.stderr, /^agent-transfer: error: SSH_AUTH_SOCK is not set, cannot talk to agent\.$/m);
    const nowhere = join(w.home, 'no-such-agent.sock');
    const r2 = await run([sub.rsa.grip], w.env({ SSH_AUTH_SOCK: nowhere }));
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, new RegExp(`^agent-transfer: error: Failed to connect to ssh agent socket ${nowhere}`, 'm'));
    assert.match(r2.stderr, /^agent-transfer: code: MS_AGENT_SSH_AGENT_UNAVAILABLE$/m);
    const long = await run([sub.rsa.grip], w.env({ SSH_AUTH_SOCK: `/tmp/${'x'.repeat(120)}` }));
    assert.match(long.stderr, /is larger than the maximum allowed socket path \(108\)/);
  });

  test('no GnuPG (gpgconf not on PATH): exit 1 naming the problem, ssh-agent untouched', async () => {
    const r = await run([sub.rsa.grip], w.env({ PATH: '/nonexistent' }));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^agent-transfer: error: cannot find gpg-agent's socket: gpgconf --list-dirs failed/m);
    assert.match(r.stderr, /^agent-transfer: code: MS_AGENT_GPG_AGENT_UNAVAILABLE$/m);
    assert.equal(w.sshAdd('-l').status, 1);
  });
});
