/**
 * monkeysphere-host's command line: bad input (clear error, non-zero exit, files
 * untouched), KEYID selection, prompts, config file and environment precedence, help.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseExpire } from '../../src/host/expire.js';
import { parseServiceName } from '../../src/host/service-name.js';
import { Scratch } from '../ssh/tools.js';
import { HostEnv, T0 } from './harness.js';

const scratch = new Scratch();
after(() => scratch.cleanup());
const SERVICES = new Map([
  ['ssh', 22],
  ['https', 443],
]);

describe('service names', () => {
  test('accepted forms', () => {
    assert.deepEqual(parseServiceName('ssh://host.example.org', SERVICES), { text: 'ssh://host.example.org', scheme: 'ssh', host: 'host.example.org' });
    assert.equal(parseServiceName('ssh://host.example.org:2222', SERVICES).port, 2222);
    assert.equal(parseServiceName('https://a-b.c.example.org.', SERVICES).host, 'a-b.c.example.org.');
    assert.equal(parseServiceName('smtp://mail.example.org:25', SERVICES).port, 25, 'no services entry: no default-port check');
  });
  const bad: Array<[string, RegExp]> = [
    ['ssh://host', /fully.qualified/],
    ['SSH://host.example.org', /lower case/],
    ['ssh://Host.example.org', /lower case/],
    ['ssh://host .example.org', /whitespace/],
    ['ssh://host.example.org:0', /port/],
    ['ssh://host.example.org:022', /port/],
    ['ssh://host.example.org:65536', /port 65536 is out of range/],
    ['ssh://host.example.org:123456', /port/],
    ['ssh://host.example.org:22', /port 22 is the default port for ssh/],
    ['https://www.example.org:443', /default port for https/],
    ['host.example.org', /must begin with the type of service/],
    ['ssh://host_1.example.org', /only lower-case ASCII letters/],
    ['ssh://.example.org', /fully.qualified/],
    ['', /empty/],
  ];
  for (const [name, why] of bad) {
    test(`refused: ${JSON.stringify(name)}`, () => {
      assert.throws(() => parseServiceName(name, SERVICES), (e: unknown) => e instanceof Error && /not a valid service name/.test(e.message) && why.test(e.message));
    });
  }
  test('the default port comes from the services database', async (t) => {
    const file = join(scratch.dir, 'services');
    writeFileSync(file, '# comment\nssh\t\t2222/tcp\t\t# moved\nmyproto 7000/tcp my-alias\n');
    const h = new HostEnv();
    t.after(() => h.cleanup());
    h.deps = { servicesFile: file };
    const r = await h.run(['import-key', scratch.sshKeygen('ed25519'), 'ssh://host.example.org:2222']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /port 2222 is the default port for ssh/);
    await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://host.example.org:22']);
  });
});

describe('bad input: clear error, non-zero exit, files untouched', () => {
  const h = new HostEnv();
  after(() => h.cleanup());
  let fprA = '';
  let fprB = '';
  before(async () => {
    await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://a.example.org']);
    h.now += 1;
    await h.ok(['import-key', scratch.sshKeygen('rsa'), 'ssh://b.example.org']);
    [fprA, fprB] = h.fingerprints();
  });

  const cases: Array<[string, () => string[], number, RegExp, (string | Buffer)?]> = [
    ['an encrypted key without a passphrase', () => ['import-key', scratch.sshKeygen('ed25519', { passphrase: 'pw' }), 'ssh://c.example.org'], 3, /encrypted and no passphrase was given/],
    ['a DSA key', () => ['import-key', scratch.sshKeygen('dsa'), 'ssh://c.example.org'], 3, /DSA keys are not supported/],
    ['a DSA key in PEM', () => ['import-key', '-', 'ssh://c.example.org'], 3, /DSA keys are not supported/, readFileSync(scratch.sshKeygen('dsa', { format: 'PEM' }))],
    ['garbage', () => ['import-key', '-', 'ssh://c.example.org'], 3, /no private key found/, 'hello'],
    ['a missing key file', () => ['import-key', '/nonexistent/key', 'ssh://c.example.org'], 3, /cannot read "\/nonexistent\/key"/],
    ['ssh://host (no dot)', () => ['import-key', scratch.sshKeygen('ed25519'), 'ssh://host'], 2, /not a valid service name: "ssh:\/\/host"/],
    ['an upper-case service name', () => ['n+', 'ssh://C.example.org', fprA], 2, /lower case/],
    ['a bad port', () => ['n+', 'ssh://c.example.org:99999', fprA], 2, /port 99999 is out of range/],
    ['an explicit default port', () => ['n+', 'ssh://c.example.org:22', fprA], 2, /default port for ssh/],
    ['an unknown KEYID', () => ['n+', 'ssh://c.example.org', 'ABCDEF12'], 3, /No host key found matching "ABCDEF12"/],
    ['a KEYID that is not hex', () => ['show-keys', 'xyz'], 2, /is not a key ID/],
    ['no KEYID with two keys', () => ['n+', 'ssh://c.example.org'], 2, /there are 2 host keys; say which one/],
    ['no KEYID with two keys (set-expire)', () => ['set-expire', '1'], 2, /there are 2 host keys/],
    ['no KEYID with two keys (revoke-key)', () => ['revoke-key'], 2, /there are 2 host keys/],
    ['a missing argument', () => ['import-key', 'x'], 2, /missing required argument 'servicename'/],
    ['an extra argument', () => ['revoke-key', fprA, fprB], 2, /too many arguments/],
    ['an unknown command', () => ['frobnicate'], 2, /Unknown command: 'frobnicate'/],
  ];
  for (const [name, argv, code, message, stdin] of cases) {
    test(name, async () => {
      const before = h.snapshot();
      const r = await h.run(argv(), { stdin });
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, message);
      assert.deepEqual(h.snapshot(), before);
    });
  }

  test('a KEYID suffix matching two keys is ambiguous', async (t) => {
    // 17 keys: by the pigeonhole principle two fingerprints end in the same hex digit.
    const many = new HostEnv();
    t.after(() => many.cleanup());
    for (let i = 0; i < 17; i++) {
      many.now = T0 + i;
      await many.ok(['import-key', scratch.sshKeygen('ed25519'), `ssh://k${i}.example.org`]);
    }
    const fprs = many.fingerprints();
    const digit = [...'0123456789ABCDEF'].find((d) => fprs.filter((f) => f.endsWith(d)).length >= 2)!;
    const before = many.snapshot();
    const r = await many.run(['n+', 'ssh://x.example.org', digit]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`Key ID "${digit}" matches \\d+ host keys; give more of the fingerprint\\.`));
    assert.deepEqual(many.snapshot(), before);
  });
  test('the same key imported twice', async () => {
    const file = scratch.sshKeygen('ecdsa256');
    h.now += 1;
    await h.ok(['import-key', file, 'ssh://c.example.org']);
    const before = h.snapshot();
    const r = await h.run(['import-key', '-', 'ssh://d.example.org'], { stdin: readFileSync(file) });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /this key is already host key/);
    assert.deepEqual(h.snapshot(), before);
  });
});

describe('prompts, config and help', () => {
  test('PROMPT=true: add-servicename asks (Y/n); "n" changes nothing, Enter adds', async (t) => {
    const h = new HostEnv({ MONKEYSPHERE_PROMPT: 'true' });
    t.after(() => h.cleanup());
    await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://a.example.org']);
    const before = h.snapshot();
    const no = await h.run(['n+', 'ssh://b.example.org'], { stdin: 'n\n' });
    assert.equal(no.code, 1);
    assert.match(no.stderr, /Are you sure you would like to add this service name\? \(Y\/n\) /);
    assert.match(no.stderr, /Service name not added\./);
    assert.deepEqual(h.snapshot(), before);
    h.now += 1;
    await h.ok(['n+', 'ssh://b.example.org'], { stdin: '\n' });
    assert.match((await h.ok(['s'])).text, /ssh:\/\/b\.example\.org/);
    // Importing another key with a name in use: y/N, default no.
    const dup = await h.run(['import-key', scratch.sshKeygen('ed25519'), 'ssh://a.example.org'], { stdin: '\n' });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists with the service name 'ssh:\/\/a\.example\.org'/);
    h.now += 1;
    await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://a.example.org'], { stdin: 'y\n' });
    assert.equal(h.fingerprints().length, 2);
  });

  test('config file, MONKEYSPHERE_HOST_CONFIG and environment precedence', async (t) => {
    const h = new HostEnv({ MONKEYSPHERE_PROMPT: '' });
    t.after(() => h.cleanup());
    writeFileSync(join(h.confDir, 'monkeysphere-host.conf'), '# test\nPROMPT=false\nLOG_LEVEL=SILENT\n');
    const quiet = await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://a.example.org']);
    assert.equal(quiet.stderr, '', 'LOG_LEVEL=SILENT from the file');
    h.now += 1;
    const loud = await h.ok(['n+', 'ssh://b.example.org'], { env: { MONKEYSPHERE_LOG_LEVEL: 'debug' } });
    assert.equal(loud.stderr, '', 'no prompt (PROMPT=false from the file), no debug lines for this command');
    const other = join(h.dir, 'other.conf');
    writeFileSync(other, 'PROMPT=true\nLOG_LEVEL=info\nthis is not an assignment\n');
    const asked = await h.run(['n+', 'ssh://c.example.org'], { env: { MONKEYSPHERE_HOST_CONFIG: other }, stdin: 'n\n' });
    assert.equal(asked.code, 1);
    assert.match(asked.stderr, /other\.conf:3: not a variable assignment/);
    assert.match(asked.stderr, /Are you sure you would like to add this service name\?/);
    const envWins = await h.ok(['n+', 'ssh://c.example.org'], { env: { MONKEYSPHERE_HOST_CONFIG: other, MONKEYSPHERE_PROMPT: 'false' } });
    assert.match(envWins.text, /ssh:\/\/c\.example\.org/);
  });

  test('help, version, no command', async (t) => {
    const h = new HostEnv();
    t.after(() => h.cleanup());
    for (const alias of ['help', '-h', '--help', 'h', '?']) {
      const r = await h.ok([alias]);
      assert.match(r.text, /^usage: monkeysphere-host <subcommand> \[options\] \[args\]\n/);
      assert.match(r.text, / add-servicename \(n\+\) SERVICENAME \[KEYID\]/);
    }
    // The bare version, as the original's `cat VERSION`.
    for (const v of ['version', 'v', '--version']) assert.match((await h.ok([v])).text, /^\d+\.\d+\.\d+\n$/);
    const none = await h.run([]);
    assert.equal(none.code, 2);
    assert.equal(
      none.stderr,
      "monkeysphere-host: error: please supply a subcommand\nmonkeysphere-host: hint: Type 'monkeysphere-host help' for usage.\nmonkeysphere-host: code: MS_HOST_NO_COMMAND\n",
    );
    const subHelp = await h.ok(['import-key', '--help']);
    assert.match(subHelp.text, /--passphrase-file/);
    // Commands needing a key, before any was imported.
    const noKey = await h.run(['show-keys']);
    assert.equal(noKey.code, 3);
    assert.match(noKey.stderr, /You don't appear to have a Monkeysphere host key on this server\./);
  });

  test('usage errors: once, in the monkeysphere-host: error: form, exit 2', async (t) => {
    const h = new HostEnv();
    t.after(() => h.cleanup());
    const hint = "monkeysphere-host: hint: Type 'monkeysphere-host help' for usage.\n";
    const usage = (message: string, code = 'MS_HOST_USAGE') => `monkeysphere-host: error: ${message}\n${hint}monkeysphere-host: code: ${code}\n`;
    const cases: Array<[string[], string]> = [
      [['bogus'], usage("Unknown command: 'bogus'", 'MS_HOST_COMMAND')],
      [['import-key'], usage("import-key: missing required argument 'file'")],
      [['import-key', '/etc/ssh/ssh_host_ed25519_key'], usage("import-key: missing required argument 'servicename'")],
      [['add-servicename'], usage("add-servicename: missing required argument 'servicename'")],
      [['show-keys', '--bogus'], usage("show-keys: unknown option '--bogus'")],
      [['diagnostics', 'extra'], usage('diagnostics: too many arguments. Expected 0 arguments but got 1.')],
    ];
    for (const [argv, stderr] of cases) {
      const r = await h.run(argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.equal(r.stderr, stderr, argv.join(' '));
      assert.equal(r.text, '', argv.join(' '));
    }
    // set-expire with no expiry: one message, the possibilities as hints, no escaped newlines.
    const expire = await h.run(['set-expire']);
    assert.equal(expire.code, 2);
    assert.match(expire.stderr, /^monkeysphere-host: error: Must specify expiration\.\n/);
    assert.match(expire.stderr, /^monkeysphere-host: hint: <n>w = key expires in n weeks$/m);
    assert.doesNotMatch(expire.stderr, /\\n/);
  });

  test('update-pgp-pub-file rewrites host_keys.pub.pgp', async (t) => {
    const h = new HostEnv();
    t.after(() => h.cleanup());
    await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://a.example.org']);
    const before = readFileSync(h.pubFile, 'utf8');
    writeFileSync(h.pubFile, 'stale');
    await h.ok(['update-pgp-pub-file']);
    assert.equal(readFileSync(h.pubFile, 'utf8'), before);
  });

  test('EXPIRE arithmetic is gpg\'s', () => {
    assert.equal(parseExpire('0', T0), undefined);
    assert.equal(parseExpire('3', T0), T0 + 3 * 86400);
    assert.equal(parseExpire('2w', T0), T0 + 14 * 86400);
    assert.equal(parseExpire('1m', T0), T0 + 30 * 86400);
    assert.equal(parseExpire('1y', T0), T0 + 365 * 86400);
  });
});
