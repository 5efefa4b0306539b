import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { InputError, UnsupportedError } from '../../src/errors.js';
import {
  BadPassphraseError,
  formatOpenSshPrivateKey,
  formatPublicKeyLine,
  isEncryptedPrivateKey,
  PassphraseRequiredError,
  parsePrivateKey,
  sshFingerprint,
} from '../../src/ssh/index.js';
import { keygenFingerprint, ok, Scratch, type SshKeyKind } from './tools.js';

const scratch = new Scratch();
after(() => scratch.cleanup());

describe('parsePrivateKey reads what ssh-keygen writes', () => {
  const kinds: SshKeyKind[] = ['rsa', 'ed25519', 'ecdsa256', 'ecdsa384', 'ecdsa521'];
  for (const kind of kinds) {
    test(`${kind}, OpenSSH format: public line and fingerprint match ssh-keygen`, () => {
      const file = scratch.sshKeygen(kind, { comment: `c-${kind}` });
      const key = parsePrivateKey(readFileSync(file), { source: file });
      assert.equal(key.format, 'openssh');
      assert.equal(key.comment, `c-${kind}`);
      assert.equal(formatPublicKeyLine(key.blob), scratch.pubLine(file));
      assert.equal(sshFingerprint(key.blob), keygenFingerprint(file));
    });
  }
  for (const [kind, format, expected] of [
    ['rsa', 'PEM', 'pkcs1'],
    ['rsa', 'PKCS8', 'pkcs8'],
    ['ecdsa256', 'PEM', 'sec1'],
    ['ecdsa384', 'PKCS8', 'pkcs8'],
  ] as const) {
    test(`${kind}, ssh-keygen -m ${format}`, () => {
      const file = scratch.sshKeygen(kind, { format });
      const key = parsePrivateKey(readFileSync(file));
      assert.equal(key.format, expected);
      assert.equal(formatPublicKeyLine(key.blob), scratch.pubLine(file));
    });
  }
});

describe('parsePrivateKey reads what openssl writes', () => {
  for (const kind of ['rsa', 'ed25519', 'p256', 'p384', 'sec1'] as const) {
    test(kind, () => {
      const file = scratch.openssl(kind);
      const key = parsePrivateKey(readFileSync(file));
      // openssl derives the public key from the same file (ssh-keygen cannot read PKCS#8 Ed25519).
      assert.equal(key.publicKey.export({ type: 'spki', format: 'pem' }), ok('openssl', ['pkey', '-in', file, '-pubout']).stdout);
    });
  }
});

describe('passphrases', () => {
  const file = scratch.sshKeygen('ed25519', { passphrase: 'correct horse' });
  test('an encrypted OpenSSH key opens with its passphrase', () => {
    assert.equal(isEncryptedPrivateKey(readFileSync(file)), true);
    const key = parsePrivateKey(readFileSync(file), { passphrase: 'correct horse' });
    assert.equal(key.encrypted, true);
    assert.equal(formatPublicKeyLine(key.blob), scratch.pubLine(file));
  });
  test('without a passphrase: PassphraseRequiredError naming the source', () => {
    assert.throws(
      () => parsePrivateKey(readFileSync(file), { source: 'host.key' }),
      (err: unknown) => err instanceof PassphraseRequiredError && err.code === 'MS_SSH_KEY_ENCRYPTED' && /host\.key/.test(err.message),
    );
  });
  test('a wrong passphrase: BadPassphraseError', () => {
    assert.throws(() => parsePrivateKey(readFileSync(file), { passphrase: 'wrong' }), BadPassphraseError);
  });
  test('encrypted PKCS#8 and legacy encrypted PEM', () => {
    const plain = scratch.openssl('rsa');
    const p8 = scratch.path('enc-p8.pem');
    ok('openssl', ['pkcs8', '-topk8', '-in', plain, '-out', p8, '-passout', 'pass:pw']);
    const legacy = scratch.path('enc-legacy.pem');
    ok('openssl', ['rsa', '-in', plain, '-out', legacy, '-aes256', '-traditional', '-passout', 'pass:pw']);
    for (const f of [p8, legacy]) {
      assert.equal(isEncryptedPrivateKey(readFileSync(f)), true, f);
      assert.throws(() => parsePrivateKey(readFileSync(f)), PassphraseRequiredError);
      assert.throws(() => parsePrivateKey(readFileSync(f), { passphrase: 'nope' }), BadPassphraseError);
      const key = parsePrivateKey(readFileSync(f), { passphrase: 'pw' });
      assert.equal(formatPublicKeyLine(key.blob), ok('ssh-keygen', ['-y', '-f', plain]).stdout.trim());
    }
  });
});

describe('refusals', () => {
  test('DSA keys, OpenSSH and PEM', () => {
    for (const format of [undefined, 'PEM'] as const) {
      const file = scratch.sshKeygen('dsa', { format });
      assert.throws(
        () => parsePrivateKey(readFileSync(file)),
        (err: unknown) => err instanceof UnsupportedError && err.code === 'MS_SSH_KEY_DSA' && /DSA keys are not supported/.test(err.message),
      );
    }
  });
  test('garbage is an InputError', () => {
    assert.throws(() => parsePrivateKey(Buffer.from('hello world\n')), InputError);
    assert.throws(() => parsePrivateKey('-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n'), InputError);
  });
});

describe('formatOpenSshPrivateKey', () => {
  for (const kind of ['rsa', 'ed25519', 'ecdsa256', 'ecdsa384', 'ecdsa521'] as const) {
    test(`${kind}: ssh-keygen -y reads it back`, () => {
      const file = scratch.sshKeygen(kind);
      const key = parsePrivateKey(readFileSync(file));
      const out = scratch.path(`rewritten-${kind}`);
      const text = formatOpenSshPrivateKey(key.privateKey, 'rewritten');
      writeFileSync(out, text, { mode: 0o600 });
      assert.equal(ok('ssh-keygen', ['-y', '-f', out]).stdout.trim(), `${scratch.pubLine(file)} rewritten`);
      // Reproducible, and readable by our own parser.
      assert.equal(formatOpenSshPrivateKey(key.privateKey, 'rewritten'), text);
      assert.deepEqual(parsePrivateKey(text).blob, key.blob);
    });
  }
});
