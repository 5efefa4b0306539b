/**
 * Round trips with the real tools: ssh-keygen and openssl keys through pem2openpgp into
 * gpg, and back out with gpg --export-ssh-key, our openpgp2ssh and ssh-keygen; gpg-made
 * keys of each algorithm (and openpgp.js v6 keys) through openpgp2ssh/pem/spki.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { main } from '../../src/cli/keytrans.js';
import { main as pem2openpgpMain } from '../../src/cli/pem2openpgp.js';
import { GpgHome, REFERENCE_TIME } from '../helpers/gpg.js';
import { keygenFingerprint, ok, Scratch, type SshKeyKind } from '../ssh/tools.js';
import { runCli } from '../helpers/run-cli.js';

const scratch = new Scratch();
after(() => scratch.cleanup());
const kt = (argv: string[], stdin: Buffer | string = '', env: NodeJS.ProcessEnv = {}) => runCli((a, io) => main(a, io, 'keytrans'), argv, { stdin, env });
const TIMES = { PEM2OPENPGP_TIMESTAMP: String(REFERENCE_TIME), PEM2OPENPGP_USAGE_FLAGS: 'authenticate' };

function fprOf(gpg: GpgHome, uid: string): string {
  const rows = gpg.colons(['--list-keys', `=${uid}`]);
  return rows.find((r) => r[0] === 'fpr')![9];
}

describe('ssh-keygen host keys → pem2openpgp → gpg', () => {
  const gpg = new GpgHome(REFERENCE_TIME + 60);
  after(() => gpg.cleanup());
  const kinds: SshKeyKind[] = ['rsa', 'ed25519', 'ecdsa256', 'ecdsa384', 'ecdsa521'];
  for (const kind of kinds) {
    test(`${kind}: gpg --export-ssh-key, openpgp2ssh and ssh-keygen -l agree with the .pub`, async () => {
      const file = scratch.sshKeygen(kind);
      const uid = `ssh://${kind}.example.org`;
      const cert = await kt(['pem2openpgp', uid], readFileSync(file), TIMES);
      assert.equal(cert.code, 0, cert.stderr);
      gpg.ok(['--import'], cert.stdout);
      const fpr = fprOf(gpg, uid);
      const pub = scratch.pubLine(file);
      // gpg reads the certificate, with the authentication flag and our self-signature.
      const rows = gpg.colons(['--list-keys', '--list-options', 'show-unusable-uids', fpr]);
      assert.ok(rows.some((r) => r[0] === 'uid' && r[9] === uid.replace(':', '\\x3a')));
      // Authenticate only (gpg 2.2 still lists an authentication-only primary as caCA).
      assert.match(gpg.ok(['--list-packets'], cert.stdout).stdout, /hashed subpkt 27 len 1 \(key flags: 20\)/);
      assert.match(gpg.ok(['--check-sigs', fpr]).stdout, /^sig!3 /m);
      assert.equal(gpg.ok(['--export-ssh-key', `${fpr}!`]).stdout.split(' ').slice(0, 2).join(' '), pub);
      // Our translator on gpg's export, public and secret.
      assert.equal((await kt(['openpgp2ssh', fpr], gpg.ok(['--export', fpr]).stdoutBytes)).text, `${pub}\n`);
      const secret = await kt(['openpgp2ssh', fpr], gpg.ok(['--export-secret-keys', fpr]).stdoutBytes);
      assert.equal(secret.code, 0, secret.stderr);
      const keyFile = scratch.path(`back-${kind}`);
      writeFileSync(keyFile, secret.stdout, { mode: 0o600 });
      assert.equal(ok('ssh-keygen', ['-y', '-f', keyFile]).stdout.trim(), pub);
      // Fingerprints: ours, as ssh-keygen -l prints them.
      const sshfpr = await kt(['openpgp2sshfpr', fpr], cert.stdout);
      assert.equal(sshfpr.text.trim(), keygenFingerprint(`${file}.pub`));
      assert.equal((await kt(['sshfpr'], readFileSync(`${file}.pub`))).text.trim(), keygenFingerprint(`${file}.pub`));
    });
  }

  test('a TLS key made by openssl req imports as https://…', async () => {
    for (const algo of [['rsa:2048'], ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']]) {
      const key = scratch.path(`tls-${algo[0]}.key`);
      ok('openssl', ['req', '-newkey', ...algo, '-nodes', '-keyout', key, '-subj', '/CN=www.example.org', '-out', scratch.path('req.csr')]);
      const uid = `https://www.example.org${algo[0] === 'ec' ? ':8443' : ''}`;
      const cert = await kt(['pem2openpgp', uid], readFileSync(key), TIMES);
      assert.equal(cert.code, 0, cert.stderr);
      gpg.ok(['--import'], cert.stdout);
      const fpr = fprOf(gpg, uid);
      // The certificate's key is the TLS key: compare SPKI with openssl's.
      const spki = await kt(['openpgp2spki', fpr], gpg.ok(['--export', fpr]).stdoutBytes);
      assert.equal(spki.text, ok('openssl', ['pkey', '-in', key, '-pubout']).stdout);
    }
  });

  test('a passphrase-protected OpenSSH key works with its passphrase and fails clearly without', async () => {
    const file = scratch.sshKeygen('ed25519', { passphrase: 'open sesame' });
    const pwFile = scratch.path('pw');
    writeFileSync(pwFile, 'open sesame\n');
    const without = await runCli(pem2openpgpMain, ['ssh://locked.example.org'], { stdin: readFileSync(file), env: TIMES });
    assert.equal(without.code, 3);
    assert.equal(without.stdout.length, 0);
    assert.match(without.stderr, /^pem2openpgp: error: the private key in standard input is encrypted and no passphrase was given\n/);
    assert.match(without.stderr, /hint: .*passphrase-file/);
    const wrong = scratch.path('wrong');
    writeFileSync(wrong, 'nope\n');
    const bad = await runCli(pem2openpgpMain, ['--passphrase-file', wrong, 'ssh://locked.example.org'], { stdin: readFileSync(file), env: TIMES });
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /passphrase does not decrypt/);
    const viaOption = await runCli(pem2openpgpMain, ['--passphrase-file', pwFile, 'ssh://locked.example.org'], { stdin: readFileSync(file), env: TIMES });
    assert.equal(viaOption.code, 0, viaOption.stderr);
    const viaEnv = await runCli(pem2openpgpMain, ['ssh://locked.example.org'], { stdin: readFileSync(file), env: { ...TIMES, PEM2OPENPGP_PASSPHRASE_FILE: pwFile } });
    assert.ok(viaEnv.stdout.equals(viaOption.stdout));
    gpg.ok(['--import'], viaEnv.stdout);
    const fpr = fprOf(gpg, 'ssh://locked.example.org');
    assert.equal(gpg.ok(['--export-ssh-key', `${fpr}!`]).stdout.split(' ').slice(0, 2).join(' '), scratch.pubLine(file));
  });
});

describe('gpg-made keys → openpgp2ssh / openpgp2pem / openpgp2spki', () => {
  const gpg = new GpgHome(REFERENCE_TIME);
  after(() => gpg.cleanup());
  for (const algo of ['rsa2048', 'ed25519', 'nistp256', 'nistp384', 'nistp521']) {
    test(algo, async () => {
      const uid = `gen-${algo}`;
      gpg.ok(['--quick-gen-key', uid, algo, 'sign,auth', 'never']);
      const fpr = fprOf(gpg, uid);
      const line = gpg.ok(['--export-ssh-key', `${fpr}!`]).stdout.split(' ').slice(0, 2).join(' ');
      const pub = gpg.ok(['--export', fpr]).stdoutBytes;
      const sec = gpg.ok(['--export-secret-keys', fpr]).stdoutBytes;
      assert.equal((await kt(['openpgp2ssh', fpr.slice(-16)], pub)).text, `${line}\n`);
      const priv = await kt(['openpgp2ssh', fpr], sec);
      const f = scratch.path(`gpg-${algo}`);
      writeFileSync(f, priv.stdout, { mode: 0o600 });
      assert.equal(ok('ssh-keygen', ['-y', '-f', f]).stdout.trim(), line);
      assert.match(priv.text, algo === 'rsa2048' ? /^-----BEGIN RSA PRIVATE KEY-----/ : /^-----BEGIN OPENSSH PRIVATE KEY-----/);
      // PEM and SPKI forms describe the same key as openssl sees it.
      const spki = (await kt(['openpgp2spki', fpr], pub)).text;
      assert.equal((await kt(['openpgp2spki', fpr], sec)).text, spki);
      const pemPriv = scratch.path(`gpg-${algo}.pem`);
      writeFileSync(pemPriv, (await kt(['openpgp2pem', fpr], sec)).stdout, { mode: 0o600 });
      assert.equal(ok('openssl', ['pkey', '-in', pemPriv, '-pubout']).stdout, spki);
      const pemPub = (await kt(['openpgp2pem', fpr], pub)).text;
      assert.match(pemPub, algo === 'rsa2048' ? /^-----BEGIN RSA PUBLIC KEY-----/ : /^-----BEGIN PUBLIC KEY-----/);
    });
  }

  test('without KEYID: the ECDH subkey is skipped with a note; two usable keys are ambiguous', async () => {
    gpg.ok(['--quick-gen-key', 'two-keys', 'ed25519', 'sign', 'never']);
    const fpr = fprOf(gpg, 'two-keys');
    gpg.ok(['--quick-add-key', fpr, 'cv25519', 'encr', 'never']);
    const one = await kt(['openpgp2ssh'], gpg.ok(['--export', fpr]).stdoutBytes);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stderr, /skipping key [0-9A-F]{40}: public-key algorithm 18 is not supported/);
    assert.equal(one.text, `${gpg.ok(['--export-ssh-key', `${fpr}!`]).stdout.split(' ').slice(0, 2).join(' ')}\n`);
    gpg.ok(['--quick-add-key', fpr, 'ed25519', 'auth', 'never']);
    const two = await kt(['openpgp2ssh'], gpg.ok(['--export', fpr]).stdoutBytes);
    assert.notEqual(two.code, 0);
    assert.match(two.stderr, /^keytrans: error: Found two matching keys\.$/m);
    const none = await kt(['openpgp2ssh', 'DEADBEEF'], gpg.ok(['--export', fpr]).stdoutBytes);
    assert.equal(none.code, 3);
    assert.match(none.stderr, /^keytrans: error: No matching key found\.$/m);
    assert.equal(none.stdout.length, 0);
  });
});

describe('v6 keys (openpgp.js)', () => {
  for (const [name, opts] of [
    ['Ed25519', { type: 'curve25519' }],
    ['RSA', { type: 'rsa', rsaBits: 2048, subkeys: [] }],
    ['ECDSA P-256', { type: 'ecc', curve: 'nistP256' }],
  ] as const) {
    test(`${name}: public line and private key agree`, async () => {
      const { privateKey, publicKey } = await openpgp.generateKey({
        ...opts,
        userIDs: [{ name: 'v6' }],
        format: 'binary',
        config: { v6Keys: true },
      } as Parameters<typeof openpgp.generateKey>[0] & { format: 'binary' });
      const pub = await kt(['openpgp2ssh'], Buffer.from(publicKey));
      assert.equal(pub.code, 0, pub.stderr);
      const priv = await kt(['openpgp2ssh'], Buffer.from(privateKey));
      assert.equal(priv.code, 0, priv.stderr);
      const f = scratch.path(`v6-${opts.type}`);
      writeFileSync(f, priv.stdout, { mode: 0o600 });
      assert.equal(`${ok('ssh-keygen', ['-y', '-f', f]).stdout.trim()}\n`, pub.text);
    });
  }
});
