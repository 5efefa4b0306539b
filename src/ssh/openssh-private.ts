/**
 * Writing the OpenSSH private-key container (openssh-key-v1, PROTOCOL.key in the
 * OpenSSH sources), unencrypted, as `ssh-keygen` writes it by default. The check
 * integer is derived from the key, so the output is reproducible.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { UnsupportedError } from '../errors.js';
import { leftPad, SSH_CURVES, sshBlobFromKeyObject, sshCurveForJwk } from './public-key.js';
import { sshMpint, sshString, sshUint32 } from './wire.js';

const b64u = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

function privateFields(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty === 'RSA') {
    return Buffer.concat([
      sshString('ssh-rsa'),
      ...[jwk.n, jwk.e, jwk.d, jwk.qi, jwk.p, jwk.q].map((v) => sshMpint(b64u(v))),
    ]);
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    const a = b64u(jwk.x);
    return Buffer.concat([sshString('ssh-ed25519'), sshString(a), sshString(Buffer.concat([b64u(jwk.d), a]))]);
  }
  const curve = jwk.kty === 'EC' ? sshCurveForJwk(jwk.crv) : undefined;
  if (curve) {
    const size = SSH_CURVES[curve].size;
    const point = Buffer.concat([Buffer.from([4]), leftPad(b64u(jwk.x), size), leftPad(b64u(jwk.y), size)]);
    return Buffer.concat([sshString(`ecdsa-sha2-${curve}`), sshString(curve), sshString(point), sshMpint(b64u(jwk.d))]);
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
