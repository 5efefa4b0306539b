/**
 * The original's tests/keytrans K1/K2 against GnuPG 2.2: for an RSA key and fixed
 * timestamps, pem2openpgp writes exactly what `gpg --export-secret-keys` does. Checked
 * live (gpg makes a new key) and against the committed golden files.
 * UPDATE_GOLDEN=1 rewrites test/golden/keytrans/k2/ from a fresh gpg key.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { main } from '../../src/cli/keytrans.js';
import { main as openpgp2ssh } from '../../src/cli/openpgp2ssh.js';
import { main as pem2openpgp } from '../../src/cli/pem2openpgp.js';
import { GpgHome } from '../helpers/gpg.js';
import { runCli } from '../helpers/run-cli.js';

const GOLDEN = join(import.meta.dirname, '..', 'golden', 'keytrans', 'k2');
/** Monkeysphere's preferences, as tests/keytrans configures gpg. */
const GPG_CONF = 'default-preference-list SHA512 SHA384 SHA256 SHA224 RIPEMD160 SHA1 AES256 AES192 AES CAST5 3DES ZLIB BZIP2 ZIP\ncert-digest-algo SHA256\n';
const TIME = 1673740800;
const UID = 'testtest';

const kt = (argv: string[], stdin: Buffer | string, env: NodeJS.ProcessEnv = {}) => runCli((a, io) => main(a, io, 'keytrans'), argv, { stdin, env });

describe('K2: pem2openpgp reproduces gpg --export-secret-keys', () => {
  const gpg = new GpgHome(TIME, GPG_CONF);
  after(() => gpg.cleanup());

  test('live: a new gpg RSA-3072 key round-trips through openpgp2ssh and pem2openpgp byte for byte', async () => {
    gpg.ok(['--quick-gen-key', UID, 'rsa3072', 'sign', 'never']);
    const fpr = gpg.colons(['--list-keys']).find((r) => r[0] === 'fpr')![9];
    const exported = gpg.ok(['--export-secret-keys', fpr]).stdoutBytes;
    const pem = await runCli(openpgp2ssh, [fpr], { stdin: exported });
    assert.equal(pem.code, 0, pem.stderr);
    assert.match(pem.text, /^-----BEGIN RSA PRIVATE KEY-----\n/);
    const ours = await runCli(pem2openpgp, [UID], {
      stdin: pem.stdout,
      env: { PEM2OPENPGP_TIMESTAMP: String(TIME), PEM2OPENPGP_USAGE_FLAGS: 'sign,certify' },
    });
    assert.equal(ours.code, 0, ours.stderr);
    // Packet listings first (a readable diff when they differ), then the bytes.
    assert.equal(gpg.ok(['--list-packets'], ours.stdout).stdout, gpg.ok(['--list-packets'], exported).stdout);
    assert.ok(ours.stdout.equals(exported), 'pem2openpgp output differs from gpg --export-secret-keys');

    if (process.env.UPDATE_GOLDEN === '1') {
      mkdirSync(GOLDEN, { recursive: true });
      writeFileSync(join(GOLDEN, 'gpg-export-secret-keys.pgp'), exported);
      writeFileSync(join(GOLDEN, 'openpgp2ssh.pem'), pem.stdout);
      writeFileSync(join(GOLDEN, 'fingerprint'), `${fpr}\n`);
    }
  });

  test('golden: openpgp2ssh and pem2openpgp on the committed gpg export', async () => {
    const exported = readFileSync(join(GOLDEN, 'gpg-export-secret-keys.pgp'));
    const expectedPem = readFileSync(join(GOLDEN, 'openpgp2ssh.pem'), 'utf8');
    const fpr = readFileSync(join(GOLDEN, 'fingerprint'), 'utf8').trim();
    const pem = await kt(['openpgp2ssh', fpr.slice(-16)], exported);
    assert.equal(pem.text, expectedPem);
    // The same key by its 0x-prefixed short ID, and without KEYID (one key in the input).
    assert.equal((await kt(['openpgp2ssh', `0x${fpr.slice(-8)}`], exported)).text, expectedPem);
    assert.equal((await kt(['openpgp2ssh'], exported)).text, expectedPem);
    const ours = await kt(['pem2openpgp', UID], expectedPem, { PEM2OPENPGP_TIMESTAMP: String(TIME), PEM2OPENPGP_USAGE_FLAGS: 'sign,certify' });
    assert.equal(ours.code, 0, ours.stderr);
    assert.ok(ours.stdout.equals(exported));
  });

  test('golden: the exported PEM is what openssl reads as the same RSA key', async () => {
    const gpgHome = new GpgHome(TIME);
    try {
      const exported = readFileSync(join(GOLDEN, 'gpg-export-secret-keys.pgp'));
      gpgHome.ok(['--import'], exported);
      const fpr = readFileSync(join(GOLDEN, 'fingerprint'), 'utf8').trim();
      const sshLine = gpgHome.ok(['--export-ssh-key', `${fpr}!`]).stdout.split(' ').slice(0, 2).join(' ');
      const pub = await kt(['openpgp2ssh', fpr], gpgHome.ok(['--export', fpr]).stdoutBytes);
      assert.equal(pub.text, `${sshLine}\n`);
    } finally {
      gpgHome.cleanup();
    }
  });
});
