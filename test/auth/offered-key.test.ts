/**
 * sshd's tokens for the offered key (`%f`, `%t %k`), as keys-for-user reads them: every
 * key sshd can pass is an offered key (refused and logged when we do not grant it), never
 * a usage error that would refuse every key; malformed input is a usage error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOfferedKey } from '../../src/auth/login.js';

const blob = (type: string, rest = 'x'.repeat(32)) => {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, Buffer.from(rest)]).toString('base64');
};

test('%f in SHA256 and MD5 form', () => {
  const sha = `SHA256:${'A'.repeat(43)}`;
  assert.deepEqual(parseOfferedKey([sha]), { fingerprint: sha });
  const md5 = `MD5:${Array.from({ length: 16 }, () => 'ab').join(':')}`;
  assert.deepEqual(parseOfferedKey([md5]), { fingerprint: md5 });
});

test('%t %k for plain keys, security keys and OpenSSH certificates', () => {
  for (const type of ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'sk-ssh-ed25519@openssh.com', 'ssh-ed25519-cert-v01@openssh.com']) {
    const r = parseOfferedKey([type, blob(type)]);
    assert.ok(typeof r === 'object' && r.key === `${type} ${blob(type)}` && r.fingerprint.startsWith('SHA256:'), `${type}: ${JSON.stringify(r)}`);
  }
});

test('malformed tokens are usage errors', () => {
  assert.equal(parseOfferedKey([]), undefined);
  for (const args of [['SHA256:short'], ['ssh-ed25519', blob('ssh-rsa')], ['ssh-ed25519', 'not base64!'], ['a', 'b', 'c'], ['BAD TYPE', blob('x')]]) {
    assert.equal(typeof parseOfferedKey(args), 'string', JSON.stringify(args));
  }
});
