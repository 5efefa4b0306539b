import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { InputError, UnsupportedError } from '../../src/errors.js';
import { keyPacketFor } from '../../src/openpgp/build.js';
import {
  formatFingerprintLine,
  formatPublicKeyLine,
  keyObjectFromKeyPacket,
  keyObjectFromSshBlob,
  parsePrivateKey,
  parsePublicKeyLine,
  sshBlobFromKeyObject,
  sshBlobFromKeyPacket,
  sshFingerprint,
  sshLineFromKeyPacket,
} from '../../src/ssh/index.js';
import { publicKeyMaterial } from '../../src/util/key-material.js';
import { ok, Scratch, type SshKeyKind } from './tools.js';

const scratch = new Scratch();
after(() => scratch.cleanup());
const kinds: SshKeyKind[] = ['rsa', 'ed25519', 'ecdsa256', 'ecdsa384', 'ecdsa521'];

describe('public key lines', () => {
  for (const kind of kinds) {
    test(`${kind}: parse, key object, format, ssh-keygen -l`, () => {
      const file = scratch.sshKeygen(kind, { comment: 'some comment here' });
      const text = readFileSync(`${file}.pub`, 'utf8');
      const pub = parsePublicKeyLine(text);
      assert.equal(pub.comment, 'some comment here');
      assert.equal(formatPublicKeyLine(pub.blob, pub.comment), text.trim());
      const keyObject = keyObjectFromSshBlob(pub.blob);
      assert.deepEqual(sshBlobFromKeyObject(keyObject), pub.blob);
      const keygen = ok('ssh-keygen', ['-lf', `${file}.pub`]).stdout.trim();
      assert.equal(formatFingerprintLine(pub.blob, pub.comment), keygen);
    });
  }
  test('a line whose type disagrees with its blob is refused', () => {
    const file = scratch.sshKeygen('ed25519');
    const [, b64] = readFileSync(`${file}.pub`, 'utf8').split(' ');
    assert.throws(() => parsePublicKeyLine(`ssh-rsa ${b64}`), InputError);
  });
  test('ssh-dss lines are refused as DSA', () => {
    const file = scratch.sshKeygen('dsa');
    assert.throws(() => parsePublicKeyLine(readFileSync(`${file}.pub`, 'utf8')), (e: unknown) => e instanceof UnsupportedError && e.code === 'MS_SSH_KEY_DSA');
  });
  test('malformed input', () => {
    assert.throws(() => parsePublicKeyLine('ssh-ed25519'), InputError);
    assert.throws(() => parsePublicKeyLine('ssh-ed25519 AAAA'), InputError);
  });
});

describe('OpenPGP key packets to SSH', () => {
  for (const kind of kinds) {
    test(`${kind}: v4 key packet gives the same line and fingerprint as the .pub`, () => {
      const file = scratch.sshKeygen(kind);
      const key = parsePrivateKey(readFileSync(file));
      const packet = keyPacketFor(key.publicKey, 1673740800);
      assert.equal(sshLineFromKeyPacket(packet), scratch.pubLine(file));
      assert.equal(sshFingerprint(sshBlobFromKeyPacket(packet)), ok('ssh-keygen', ['-lf', `${file}.pub`]).stdout.split(' ')[1]);
      assert.deepEqual(sshBlobFromKeyObject(keyObjectFromKeyPacket(packet)), key.blob);
    });
  }
  test('a v6 native Ed25519 key packet', () => {
    const file = scratch.sshKeygen('ed25519');
    const key = parsePrivateKey(readFileSync(file));
    const m = publicKeyMaterial(key.publicKey);
    assert.equal(m.type, 'ed25519');
    const raw = m.a;
    const body = Buffer.concat([Buffer.from([6, 0x63, 0xc3, 0x42, 0x00, 27, 0, 0, 0, 32]), raw]);
    const packet = {
      ...keyPacketFor(key.publicKey, 0),
      version: 6,
      algorithm: 27,
      material: { kind: 'native' as const, key: raw },
      publicBody: body,
    };
    assert.equal(sshLineFromKeyPacket(packet), scratch.pubLine(file));
  });
});
