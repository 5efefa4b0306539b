/**
 * The hidden keytrans verbs (the original's tests/keytrans K3–K5), argv[0] dispatch,
 * the PEM2OPENPGP_* variables and bad input.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { main } from '../../src/cli/keytrans.js';
import { GpgHome, REFERENCE_TIME } from '../helpers/gpg.js';
import { keygenFingerprint, Scratch } from '../ssh/tools.js';
import { runCli } from '../helpers/run-cli.js';

const scratch = new Scratch();
after(() => scratch.cleanup());
const kt = (argv: string[], stdin: Buffer | string = '', env: NodeJS.ProcessEnv = {}, as = 'keytrans') => runCli((a, io) => main(a, io, as), argv, { stdin, env });
const GPG_CONF = 'default-preference-list SHA512 SHA384 SHA256 SHA224 RIPEMD160 SHA1 AES256 AES192 AES CAST5 3DES ZLIB BZIP2 ZIP\ncert-digest-algo SHA256\n';
const T = REFERENCE_TIME;

describe('K3–K5: adduserid, revokeuserid, listfprs', () => {
  const gpg = new GpgHome(T, GPG_CONF);
  after(() => gpg.cleanup());
  gpg.ok(['--quick-gen-key', 'testtest', 'rsa2048', 'sign', 'never']);
  const fpr1 = gpg.colons(['--list-keys']).find((r) => r[0] === 'fpr')![9];
  // Later signatures must not be in gpg's future.
  gpg.now = T + 100;

  test('K3: adduserid adds a self-certified user ID gpg accepts', async () => {
    const out = await kt(['adduserid', fpr1, 'monkeymonkey'], gpg.ok(['--export-secret-keys', fpr1]).stdoutBytes, { PEM2OPENPGP_TIMESTAMP: String(T + 10) });
    assert.equal(out.code, 0, out.stderr);
    // Only public packets come out: public key, user ID, signature.
    assert.deepEqual(
      gpg
        .ok(['--list-packets'], out.stdout)
        .stdout.split('\n')
        .filter((l) => l.startsWith(':'))
        .map((l) => l.split(' packet')[0]),
      [':public key', ':user ID', ':signature'],
    );
    gpg.ok(['--import'], out.stdout);
    gpg.ok(['--check-trustdb']);
    const rows = gpg.colons(['--list-keys', fpr1]);
    // gpg lists the user ID with the newest self-signature first.
    assert.deepEqual(
      rows
        .filter((r) => r[0] === 'uid')
        .map((r) => `${r[1]}:${r[9]}`)
        .sort(),
      ['u:monkeymonkey', 'u:testtest'],
    );
    assert.match(gpg.ok(['--check-sigs', fpr1]).stdout, /uid +\[ultimate\] monkeymonkey\nsig!3 /);
    // The same user ID again is refused.
    const again = await kt(['adduserid', fpr1, 'monkeymonkey'], gpg.ok(['--export-secret-keys', fpr1]).stdoutBytes);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /already exists/);
  });

  test('K4: revokeuserid at ts+1 revokes it (uid:r, rev 30x,20)', async () => {
    const out = await kt(['revokeuserid', fpr1, 'testtest'], gpg.ok(['--export-secret-keys', fpr1]).stdoutBytes, { PEM2OPENPGP_TIMESTAMP: String(T + 11) });
    assert.equal(out.code, 0, out.stderr);
    gpg.ok(['--import'], out.stdout);
    const rows = gpg.colons(['--list-sigs', '--list-options', 'show-unusable-uids', fpr1]);
    const uidIndex = rows.findIndex((r) => r[0] === 'uid' && r[9] === 'testtest');
    assert.equal(rows[uidIndex][1], 'r');
    const rev = rows.slice(uidIndex + 1).find((r) => r[0] === 'rev')!;
    // Class 0x30, exportable, reason 0x20 (user ID no longer valid).
    assert.equal(rev[10], '30x,20');
    const missing = await kt(['revokeuserid', fpr1, 'nobody'], gpg.ok(['--export-secret-keys', fpr1]).stdoutBytes);
    assert.equal(missing.code, 3);
  });

  test('K5: a second key from an ssh-keygen PEM; listfprs shows both; adduserid changes only its key', async () => {
    const file = scratch.sshKeygen('rsa', { format: 'PEM' });
    const second = await kt(['pem2openpgp', 'second'], readFileSync(file), { PEM2OPENPGP_TIMESTAMP: String(T + 20) });
    assert.equal(second.code, 0, second.stderr);
    const fprs2 = await kt(['listfprs'], second.stdout);
    assert.match(fprs2.text, /^[0-9A-F]{40}\n$/);
    const fpr2 = fprs2.text.trim();
    gpg.ok(['--import'], second.stdout);
    const both = await kt(['listfprs'], gpg.ok(['--export-secret-keys']).stdoutBytes);
    assert.deepEqual(both.text.trim().split('\n').sort(), [fpr1, fpr2].sort());
    const before2 = gpg.ok(['--export', fpr2]).stdoutBytes;
    const add = await kt(['adduserid', fpr1.slice(-16), 'baz'], gpg.ok(['--export-secret-keys']).stdoutBytes, { PEM2OPENPGP_TIMESTAMP: String(T + 21) });
    assert.equal(add.code, 0, add.stderr);
    gpg.ok(['--import'], add.stdout);
    assert.ok(gpg.colons(['--list-keys', fpr1]).some((r) => r[0] === 'uid' && r[9] === 'baz'));
    assert.ok(gpg.ok(['--export', fpr2]).stdoutBytes.equals(before2));
    // The fingerprint of key 2's SSH form, from keytrans and from ssh-keygen.
    assert.equal((await kt(['openpgp2sshfpr', fpr2], second.stdout)).text.trim(), keygenFingerprint(`${file}.pub`));
  });
});

describe('PEM2OPENPGP_* variables and argv[0] dispatch', () => {
  const gpg = new GpgHome(T + 1000);
  after(() => gpg.cleanup());

  test('invoked as pem2openpgp; KEY_TIMESTAMP, EXPIRATION and USAGE_FLAGS reach gpg', async () => {
    const file = scratch.sshKeygen('ed25519');
    const out = await kt(['ssh://exp.example.org'], readFileSync(file), {
      PEM2OPENPGP_TIMESTAMP: String(T + 500),
      PEM2OPENPGP_KEY_TIMESTAMP: String(T),
      PEM2OPENPGP_EXPIRATION: '86400',
      PEM2OPENPGP_USAGE_FLAGS: 'authenticate,sign',
    }, '/usr/bin/pem2openpgp');
    assert.equal(out.code, 0, out.stderr);
    gpg.ok(['--import'], out.stdout);
    const pub = gpg.colons(['--list-keys', '=ssh://exp.example.org']).find((r) => r[0] === 'pub')!;
    assert.equal(pub[5], String(T));
    assert.equal(pub[6], String(T + 86400));
    assert.match(gpg.ok(['--list-packets'], out.stdout).stdout, /key flags: 22/);
  });

  test('PEM2OPENPGP_NEWKEY makes a key and ignores stdin', async () => {
    const out = await kt(['pem2openpgp', 'core'], 'ignored', { PEM2OPENPGP_NEWKEY: '2048', PEM2OPENPGP_USAGE_FLAGS: 'certify', PEM2OPENPGP_TIMESTAMP: String(T) });
    assert.equal(out.code, 0, out.stderr);
    gpg.ok(['--import'], out.stdout);
    assert.equal(gpg.colons(['--list-keys', '=core']).find((r) => r[0] === 'pub')![2], '2048');
  });

  test('the translators under their own names', async () => {
    const file = scratch.sshKeygen('ecdsa256');
    const cert = await kt(['ssh://named.example.org'], readFileSync(file), { PEM2OPENPGP_TIMESTAMP: String(T) }, 'pem2openpgp');
    const fpr = (await kt(['listfprs'], cert.stdout)).text.trim();
    const line = await kt([fpr], cert.stdout, {}, '/usr/share/monkeysphere/openpgp2ssh');
    assert.equal(line.code, 0, line.stderr);
    assert.equal(line.text.split('\n')[0].startsWith('-----BEGIN OPENSSH PRIVATE KEY-----'), true);
    assert.match((await kt([fpr], cert.stdout, {}, 'openpgp2spki')).text, /^-----BEGIN PUBLIC KEY-----\n/);
    assert.match((await kt([fpr], cert.stdout, {}, 'openpgp2pem.js')).text, /^-----BEGIN EC PRIVATE KEY-----\n/);
  });
});

describe('bad input: clear errors, non-zero exits, nothing on stdout', () => {
  const cases: Array<[string, () => Promise<{ code: number; stderr: string; stdout: Buffer }>, number, RegExp]> = [
    ['a DSA key', async () => kt(['pem2openpgp', 'ssh://dsa.example.org'], readFileSync(scratch.sshKeygen('dsa'))), 3, /DSA keys are not supported/],
    ['a DSA PEM key', async () => kt(['pem2openpgp', 'ssh://dsa.example.org'], readFileSync(scratch.sshKeygen('dsa', { format: 'PEM' }))), 3, /DSA keys are not supported/],
    ['garbage', async () => kt(['pem2openpgp', 'x'], 'not a key'), 3, /no private key found/],
    ['an unknown usage flag', async () => kt(['pem2openpgp', 'x'], readFileSync(scratch.sshKeygen('ed25519')), { PEM2OPENPGP_USAGE_FLAGS: 'sign,bogus' }), 2, /No such flag bogus/],
    [
      'a key time after the signature time',
      async () => kt(['pem2openpgp', 'x'], readFileSync(scratch.sshKeygen('ed25519')), { PEM2OPENPGP_TIMESTAMP: '100', PEM2OPENPGP_KEY_TIMESTAMP: '200' }),
      2,
      /key timestamp must not be later than signature timestamp/,
    ],
    ['a non-numeric timestamp', async () => kt(['pem2openpgp', 'x'], 'k', { PEM2OPENPGP_TIMESTAMP: 'yesterday' }), 2, /PEM2OPENPGP_TIMESTAMP must be a Unix time/],
    ['no user ID', async () => kt(['pem2openpgp'], ''), 2, /missing required argument/],
    ['an unknown verb', async () => kt(['frobnicate'], ''), 2, /Unrecognized keytrans call\./],
    ['a malformed KEYID', async () => kt(['openpgp2ssh', 'xyz'], ''), 2, /is not a key ID or fingerprint/],
    ['an empty stream', async () => kt(['openpgp2ssh'], ''), 3, /No matching key found\./],
    ['a truncated packet stream', async () => kt(['openpgp2ssh'], Buffer.from([0x99, 0x01, 0x0d, 0x04])), 3, /truncated/],
    ['sshfpr on a bad line', async () => kt(['sshfpr'], 'ssh-rsa notbase64!\n'), 3, /not an SSH public key line/],
  ];
  for (const [name, run, code, message] of cases) {
    test(name, async () => {
      const r = await run();
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout.length, 0);
    });
  }
});
