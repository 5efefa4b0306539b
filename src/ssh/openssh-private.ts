/**
 * Writing the OpenSSH private-key container (openssh-key-v1, PROTOCOL.key in the
 * OpenSSH sources), unencrypted, as `ssh-keygen` writes it by default. The check
 * integer is derived from the key, so the output is reproducible.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { UnsupportedError } from '../errors.js';
import { privateKeyMaterial } from '../util/key-material.js';
import { sshBlobFromKeyObject, sshCurveForJwk } from './public-key.js';
import { sshMpint, sshString, sshUint32 } from './wire.js';

function privateFields(key: KeyObject): Buffer {
  const m = privateKeyMaterial(key);
  if (m.type === 'rsa') return Buffer.concat([sshString('ssh-rsa'), ...[m.n, m.e, m.d, m.qi, m.p, m.q].map((v) => sshMpint(v))]);
  if (m.type === 'ed25519') return Buffer.concat([sshString('ssh-ed25519'), sshString(m.a), sshString(Buffer.concat([m.seed, m.a]))]);
  const curve = m.type === 'ec' ? sshCurveForJwk(m.curve) : undefined;
  if (m.type === 'ec' && curve) {
    return Buffer.concat([sshString(`ecdsa-sha2-${curve}`), sshString(curve), sshString(m.point), sshMpint(m.d)]);
  }
  throw new UnsupportedError('MS_SSH_KEY_ALGORITHM', `cannot write a ${key.asymmetricKeyType} key in OpenSSH format`);
}

/**
 * An unencrypted OpenSSH private key file (`-----BEGIN OPENSSH PRIVATE KEY-----`).
 * @throws UnsupportedError for keys other than RSA, Ed25519 and NIST ECDSA.
 */
export function formatOpenSshPrivateKey(privateKey: KeyObject, comment = ''): string {
  const blob = sshBlobFromKeyObject(privateKey);
  const check = createHash('sha256').update(blob).digest().readUInt32BE(0);
  let inner = Buffer.concat([sshUint32(check), sshUint32(check), privateFields(privateKey), sshString(comment)]);
  const pad: number[] = [];
  for (let i = 1; (inner.length + pad.length) % 8 !== 0; i++) pad.push(i);
  inner = Buffer.concat([inner, Buffer.from(pad)]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    sshUint32(1),
    sshString(blob),
    sshString(inner),
  ]);
  const b64 = body.toString('base64');
  const lines = ['-----BEGIN OPENSSH PRIVATE KEY-----'];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  lines.push('-----END OPENSSH PRIVATE KEY-----', '');
  return lines.join('\n');
}
