/**
 * monkeysphere subkey-to-ssh-agent and gen-subkey (src/user/subkeys.ts) against real
 * agents: which subkeys go (valid, authentication-capable, secret in gpg-agent; never a
 * primary key, an expired or encryption subkey, or someone else's), -d, -t, -c and
 * MONKEYSPHERE_SUBKEYS_FOR_AGENT, checked with ssh-add, ssh-keygen and a real sshd login;
 * gen-subkey's keys as gpg lists them, then transferred. gpg is the oracle throughout.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Logger } from '../../src/cli/log.js';
import { main as monkeysphere } from '../../src/cli/monkeysphere.js';
import type { Asker } from '../../src/cli/prompt.js';
import { MsError } from '../../src/errors.js';
import { genSubkey, type SubkeyContext, subkeyToSshAgent } from '../../src/user/subkeys.js';
import { GpgHome } from '../helpers/gpg.js';
import { runCli } from '../helpers/run-cli.js';
import { secureTmpDir, Sshd } from '../helpers/sshd.js';
import { AgentWorld } from './harness.js';

const DAY = 86400;
const ALICE = 'Alice A/B <alice@example.org>';
/** The label the original gives Alice's keys in ssh-agent: her first user ID without "/". */
const LABEL = 'Alice AB <alice@example.org>';

function context(w: AgentWorld, extra: Partial<SubkeyContext> & { envExtra?: NodeJS.ProcessEnv; answers?: string[] } = {}) {
  let log = '';
  const questions: string[] = [];
  const answers = [...(extra.answers ?? [])];
  const asker: Asker = {
    ask: async (q) => {
      questions.push(q);
      return answers.shift();
    },
  };
  const ctx: SubkeyContext = {
    env: w.env(extra.envExtra),
    gnupgHome: w.home,
    log: new Logger({ stderr: { write: (s: string | Uint8Array) => (log += s.toString()) } }, 'VERBOSE'),
    prompt: false,
    asker,
    now: Math.floor(Date.now() / 1000),
    ...extra,
  };
  return { ctx, log: () => log, questions };
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<MsError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MsError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

const clearAgent = (w: AgentWorld) => spawnSync('ssh-add', ['-D'], { env: { ...process.env, SSH_AUTH_SOCK: w.sshSock } });

describe('subkey-to-ssh-agent', () => {
  const w = new AgentWorld();
  let alice = '';
  const auth: Record<string, string> = {};
  let expired = '';
  let noSecret = '';
  let bobAuth = '';

  before(async () => {
    alice = w.makeKey(ALICE, 'rsa2048', 'sign,auth');
    auth.ed25519 = w.addSubkey(alice, 'ed25519', 'auth');
    auth.rsa = w.addSubkey(alice, 'rsa2048', 'auth');
    auth.ecdsa = w.addSubkey(alice, 'nistp256/ecdsa', 'auth');
    w.addSubkey(alice, 'cv25519', 'encr');
    expired = w.addSubkey(alice, 'ed25519', 'auth', '1d');
    noSecret = w.addSubkey(alice, 'ed25519', 'auth');
    w.gpg.ok(['--delete-secret-keys', `${noSecret}!`]);
    const bob = w.makeKey('Bob <bob@example.org>', 'ed25519', 'sign');
    bobAuth = w.addSubkey(bob, 'ed25519', 'auth');
    w.gpg.ok(['--delete-secret-keys', bob]);
    await w.startSshAgent({ SSH_ASKPASS: join(w.home, 'askpass-no.sh'), SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });
  });
  after(() => w.cleanup());

  const expected = () => [auth.ecdsa, auth.ed25519, auth.rsa].map((f) => `${w.sshLine(f)} ${LABEL}`).sort();
  const listed = () => (w.sshAdd('-L').status === 0 ? w.sshAdd('-L').out.trim().split('\n').sort() : []);

  test("the keys's keygrips and validity are gpg's (oracle for what follows)", () => {
    const keys = w.keys(alice);
    assert.equal(keys.find((k) => k.fpr === noSecret)?.usage, 'a');
    assert.equal(keys.length, 7);
  });

  test('loads exactly the valid authentication subkeys with secret parts, labelled by the first user ID', async () => {
    // Two days on, the one-day subkey has expired.
    const { ctx, log } = context(w, { now: Math.floor(Date.now() / 1000) + 2 * DAY });
    assert.equal(await subkeyToSshAgent(ctx, []), 0, log());
    assert.deepEqual(listed(), expected());
    const all = w.sshAdd('-L').out;
    for (const f of [alice, expired, noSecret, bobAuth]) assert.ok(!all.includes(w.sshLine(f)), `${f} should not be in ssh-agent`);
    assert.match(w.pinentryLog(), /^SETDESC Sending key for 'Alice AB <alice@example.org>' from gpg-agent to ssh-agent/m);
  });

  test('at the reference time the one-day subkey is still valid and goes too', async () => {
    clearAgent(w);
    const { ctx } = context(w);
    assert.equal(await subkeyToSshAgent(ctx, []), 0);
    assert.equal(listed().length, 4);
    assert.ok(w.sshAdd('-L').out.includes(w.sshLine(expired)));
  });

  test('-d removes them; removing what is not there is status 1', async () => {
    const { ctx, log } = context(w);
    assert.equal(await subkeyToSshAgent(ctx, ['-d']), 0, log());
    assert.deepEqual(listed(), []);
    assert.match(log(), /Identity removed: Alice AB <alice@example.org>/);
    const again = context(w);
    assert.equal(await subkeyToSshAgent(again.ctx, ['-d']), 1);
    assert.match(again.log(), /Could not remove identity "Alice AB <alice@example.org>"/);
  });

  test('-t SECONDS: the keys leave ssh-agent when their lifetime ends', async () => {
    const { ctx, log } = context(w, { now: Math.floor(Date.now() / 1000) + 2 * DAY });
    assert.equal(await subkeyToSshAgent(ctx, ['-t', '3']), 0, log());
    // Three keys, each through the pinentry, take about a second to add.
    assert.equal(listed().length, 3);
    await new Promise((r) => setTimeout(r, 3500));
    assert.deepEqual(listed(), []);
  });

  test('-c: ssh-agent asks before each use (refused here, so signing fails)', async () => {
    const { ctx, log } = context(w, { now: Math.floor(Date.now() / 1000) + 2 * DAY });
    assert.equal(await subkeyToSshAgent(ctx, ['-c']), 0, log());
    const data = join(w.home, 'data.txt');
    writeFileSync(data, 'x\n');
    writeFileSync(join(w.home, 'k.pub'), `${w.sshLine(auth.ed25519)}\n`);
    const r = spawnSync('ssh-keygen', ['-Y', 'sign', '-n', 'file', '-f', join(w.home, 'k.pub'), data], { env: { ...process.env, SSH_AUTH_SOCK: w.sshSock } });
    assert.notEqual(r.status, 0);
    assert.match(w.askpassLog(), /Alice AB/);
    clearAgent(w);
  });

  test('a bad option fails each key as agent-transfer did: status 1, nothing sent', async () => {
    for (const args of [['-t', 'abc'], ['-x'], ['extra']]) {
      const { ctx, log } = context(w);
      assert.equal(await subkeyToSshAgent(ctx, args), 1, args.join(' '));
      assert.match(log(), /lifetime \(seconds\) must be > 0|flag not recognized: x|unrecognized argument extra/);
      assert.deepEqual(listed(), []);
    }
  });

  test('MONKEYSPHERE_SUBKEYS_FOR_AGENT names the subkeys; unknown or primary keys are reported and skipped', async () => {
    const { ctx, log } = context(w, { envExtra: { MONKEYSPHERE_SUBKEYS_FOR_AGENT: `${auth.ed25519} 0x${auth.rsa.slice(-16)} ${alice} ${'A'.repeat(40)}` } });
    assert.equal(await subkeyToSshAgent(ctx, []), 0, log());
    assert.deepEqual(listed(), [auth.ed25519, auth.rsa].map((f) => `${w.sshLine(f)} ${LABEL}`).sort());
    assert.match(log(), new RegExp(`Did not find authentication-capable subkey with key ID '${alice}'`));
    assert.match(log(), /Did not find authentication-capable subkey with key ID 'A{40}'/);
    clearAgent(w);
  });

  test('a subkey loaded this way logs in to a real sshd', async () => {
    const keys = secureTmpDir('keys-');
    const authorized = join(keys, 'authorized_keys');
    writeFileSync(authorized, `${w.sshLine(auth.rsa)}\n`, { mode: 0o600 });
    const sshd = new Sshd({ config: [`AuthorizedKeysFile ${authorized}`] });
    try {
      await sshd.start();
      assert.equal(sshd.ssh(undefined, 'true', { agentSocket: w.sshSock }).status, 255);
      const { ctx, log } = context(w);
      assert.equal(await subkeyToSshAgent(ctx, []), 0, log());
      const r = sshd.ssh(undefined, 'echo in', { agentSocket: w.sshSock });
      assert.equal(r.status, 0, `${r.stderr}\n${sshd.log}`);
      assert.equal(r.stdout.trim(), 'in');
    } finally {
      await sshd.stop();
      rmSync(keys, { recursive: true, force: true });
      clearAgent(w);
    }
  });

  test('no ssh-agent, or one that does not answer: the original\'s messages', async () => {
    const unset = context(w);
    delete unset.ctx.env.SSH_AUTH_SOCK;
    await rejects(subkeyToSshAgent(unset.ctx, []), 'MS_USER_NO_SSH_AGENT', /^No ssh-agent available\.$/);
    const nowhere = context(w, { envExtra: { SSH_AUTH_SOCK: join(w.home, 'nothing.sock') } });
    await rejects(subkeyToSshAgent(nowhere.ctx, []), 'MS_USER_SSH_AGENT_CONNECT', /^Could not connect to ssh-agent$/);
  });
});

describe('subkey-to-ssh-agent without keys to send', () => {
  const w = new AgentWorld();
  before(() => w.startSshAgent());
  after(() => w.cleanup());

  test('no secret keys at all', async () => {
    const { ctx } = context(w);
    const err = await rejects(subkeyToSshAgent(ctx, []), 'MS_USER_NO_SECRET_KEYS', /^You have no secret keys in your keyring!$/);
    assert.deepEqual(err.hints, ["You might want to run 'gpg --gen-key'."]);
  });

  test('secret keys without an authentication subkey (an authentication-capable primary is never sent)', async () => {
    w.makeKey('Carol <carol@example.org>', 'ed25519', 'sign,auth');
    const { ctx } = context(w);
    const err = await rejects(subkeyToSshAgent(ctx, []), 'MS_USER_NO_AUTH_SUBKEYS', /^no authentication-capable subkeys available\.$/);
    assert.deepEqual(err.hints, ["You might want to run 'monkeysphere gen-subkey'."]);
  });
});

describe('gen-subkey', () => {
  const w = new AgentWorld();
  let dave = '';
  before(async () => {
    dave = w.makeKey('Dave <dave@example.org>', 'ed25519', 'sign');
    await w.startSshAgent();
  });
  after(() => w.cleanup());

  test('adds an RSA 3072 authentication subkey by default, through the pinentry, and it can be transferred', async () => {
    const before = w.keys(dave).length;
    const { ctx, log } = context(w);
    assert.equal(await genSubkey(ctx, { type: 'rsa' }), 0, log());
    const keys = w.keys(dave);
    assert.equal(keys.length, before + 1);
    const made = keys[keys.length - 1];
    const listing = w.gpg.colons(['--list-keys', dave]).filter((r) => r[0] === 'sub');
    assert.deepEqual([listing.at(-1)![2], made.algo, made.usage], ['3072', '1', 'a']);
    assert.match(log(), /Generating subkey\. {2}This may take a long time\.\.\./);
    const t = context(w);
    assert.equal(await subkeyToSshAgent(t.ctx, []), 0, t.log());
    assert.equal(w.sshAdd('-L').out.trim(), `${w.sshLine(made.fpr)} Dave <dave@example.org>`);
    clearAgent(w);
  });

  test('an existing authentication key: with PROMPT=false it aborts; asked, "n" aborts and "y" goes on', async () => {
    const off = context(w);
    await rejects(genSubkey(off.ctx, { type: 'ed25519' }), 'MS_USER_ABORTED', /^aborting\.$/);
    assert.match(off.log(), /A valid authentication key already exists for primary key '[0-9A-F]{16}'\./);
    const no = context(w, { prompt: true, answers: ['n'] });
    await rejects(genSubkey(no.ctx, { type: 'ed25519' }), 'MS_USER_ABORTED', /^aborting\.$/);
    assert.deepEqual(no.questions, ['Are you sure you would like to generate another one? (y/N) ']);
    const before = w.keys(dave).length;
    const yes = context(w, { prompt: true, answers: ['y'] });
    assert.equal(await genSubkey(yes.ctx, { type: 'ed25519' }), 0, yes.log());
    const made = w.keys(dave).at(-1)!;
    assert.equal(w.keys(dave).length, before + 1);
    assert.deepEqual([made.algo, made.usage], ['22', 'a']);
  });

  test('-l BITS, and a KEYID when there are several secret keys', async () => {
    const erin = w.makeKey('Erin <erin@example.org>', 'ed25519', 'sign');
    const several = context(w);
    const err = await rejects(genSubkey(several.ctx, { type: 'rsa' }), 'MS_USER_MULTIPLE_SECRET_KEYS', /^Multiple primary secret keys found:$/);
    assert.equal(err.hints.at(-1), 'Please specify which primary key to use.');
    assert.equal(err.hints.length, 3);
    const { ctx, log } = context(w);
    assert.equal(await genSubkey(ctx, { type: 'rsa', length: 2048, keyId: 'erin@example.org' }), 0, log());
    const sub = w.gpg.colons(['--list-keys', erin]).filter((r) => r[0] === 'sub').at(-1)!;
    assert.deepEqual([sub[2], sub[3], sub[11]], ['2048', '1', 'a']);
    await rejects(genSubkey(context(w).ctx, { type: 'rsa', keyId: 'nobody@example.org' }), 'MS_USER_SECRET_KEY_NOT_FOUND', /No secret key found for "nobody@example\.org"/);
    await rejects(genSubkey(context(w, { prompt: true, answers: ['y'] }).ctx, { type: 'rsa', length: 100, keyId: `0x${erin}` }), 'MS_USER_GEN_SUBKEY', /gpg could not add the rsa100 authentication subkey/);
  });

  test('no secret key at all', async () => {
    const empty = new GpgHome();
    try {
      const { ctx } = context(w, { gnupgHome: empty.dir });
      await rejects(genSubkey(ctx, { type: 'rsa' }), 'MS_USER_NO_SECRET_KEYS', /^No secret keys found\./);
    } finally {
      empty.cleanup();
    }
  });
});

describe('through the monkeysphere command (in-process main)', () => {
  const w = new AgentWorld();
  let frank = '';
  before(async () => {
    frank = w.makeKey('Frank <frank@example.org>', 'ed25519', 'sign');
    await w.startSshAgent();
  });
  after(() => w.cleanup());

  const env = (extra: NodeJS.ProcessEnv = {}) => w.env({ HOME: w.home, MONKEYSPHERE_GNUPGHOME: w.home, MONKEYSPHERE_PROMPT: 'false', MONKEYSPHERE_CHECK_KEYSERVER: 'false', ...extra });

  test('g makes an Ed25519 subkey, s loads it, s -d removes it; failures exit 255 as 0.43', async () => {
    const g = await runCli(monkeysphere, ['gen-subkey', '--type', 'ed25519'], { env: env() });
    assert.equal(g.code, 0, g.stderr);
    const made = w.keys(frank).at(-1)!;
    assert.deepEqual([made.type, made.algo, made.usage], ['sub', '22', 'a']);
    const again = await runCli(monkeysphere, ['g'], { env: env() });
    assert.equal(again.code, 255);
    assert.match(again.stderr, /^monkeysphere: error: aborting\.$/m);
    const s = await runCli(monkeysphere, ['s'], { env: env() });
    assert.equal(s.code, 0, s.stderr);
    assert.equal(w.sshAdd('-L').out.trim(), `${w.sshLine(made.fpr)} Frank <frank@example.org>`);
    const d = await runCli(monkeysphere, ['subkey-to-ssh-agent', '-d'], { env: env() });
    assert.equal(d.code, 0, d.stderr);
    assert.equal(w.sshAdd('-l').status, 1);
    const noAgent = await runCli(monkeysphere, ['s'], { env: env({ SSH_AUTH_SOCK: '' }) });
    assert.equal(noAgent.code, 255);
    assert.match(noAgent.stderr, /^monkeysphere: error: No ssh-agent available\.$/m);
    const badT = await runCli(monkeysphere, ['s', '-t', 'abc'], { env: env() });
    assert.equal(badT.code, 1, 'a bad option fails each key: status 1, as 0.43');
    assert.match(badT.stderr, /lifetime \(seconds\) must be > 0/);
  });
});
