/**
 * From OpenPGP key packets to SSH: the public key blob and line of an RSA, EdDSA
 * (legacy v4 and native Ed25519 of v6) or NIST ECDSA key, as `gpg --export-ssh-key`
 * writes them. Keys of other algorithms are refused with UnsupportedError.
 */
import type { KeyObject } from 'node:crypto';
import { UnsupportedError } from '../errors.js';
import { PubKeyAlg } from '../openpgp/algorithms.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { formatPublicKeyLine, keyObjectFromSshBlob, SSH_CURVES, type SshCurve } from './public-key.js';
import { sshMpint, sshString } from './wire.js';

function unsupported(key: KeyPacket, why: string): UnsupportedError {
  return new UnsupportedError('MS_SSH_KEY_ALGORITHM', `key ${key.fpr} cannot be used with SSH: ${why}`, {
    data: { fingerprint: key.fpr, algorithm: key.algorithm },
  });
}

/** Whether the key has an SSH form (without building it). */
export function hasSshForm(key: KeyPacket): boolean {
  try {
    sshBlobFromKeyPacket(key);
    return true;
  } catch {
    // Any refusal means no SSH form; the reason is what sshBlobFromKeyPacket throws.
    return false;
  }
}

/**
 * The SSH public key blob of an OpenPGP key.
 * @throws UnsupportedError (MS_SSH_KEY_ALGORITHM) for DSA, ElGamal, ECDH, Ed448, brainpool and others.
 */
export function sshBlobFromKeyPacket(key: KeyPacket): Buffer {
  const m = key.material;
  switch (key.algorithm) {
    case PubKeyAlg.RSA:
    case PubKeyAlg.RSASign:
    case PubKeyAlg.RSAEncrypt:
      if (m.kind !== 'rsa') break;
      return Buffer.concat([sshString('ssh-rsa'), sshMpint(m.e), sshMpint(m.n)]);
    case PubKeyAlg.EdDSALegacy:
      if (m.kind !== 'ecc' || m.curve?.name !== 'ed25519') throw unsupported(key, 'EdDSA on a curve other than Ed25519');
      if (m.point.length !== 33 || m.point[0] !== 0x40) throw unsupported(key, 'Ed25519 point is not in native (0x40) form');
      return Buffer.concat([sshString('ssh-ed25519'), sshString(m.point.subarray(1))]);
    case PubKeyAlg.Ed25519:
      if (m.kind !== 'native') break;
      return Buffer.concat([sshString('ssh-ed25519'), sshString(m.key)]);
    case PubKeyAlg.ECDSA: {
      if (m.kind !== 'ecc') break;
      const curve = m.curve && m.curve.name in SSH_CURVES ? (m.curve.name as SshCurve) : undefined;
      if (!curve) throw unsupported(key, `ECDSA curve ${m.curve?.name ?? 'unknown'} has no SSH form`);
      if (m.point.length !== 1 + 2 * SSH_CURVES[curve].size || m.point[0] !== 4) throw unsupported(key, 'ECDSA point is not uncompressed');
      return Buffer.concat([sshString(`ecdsa-sha2-${curve}`), sshString(curve), sshString(m.point)]);
    }
    default:
      break;
  }
  throw unsupported(key, `public-key algorithm ${key.algorithm} has no SSH form`);
}

/** `type base64` (no comment, no newline), the line `openpgp2ssh` prints. */
export function sshLineFromKeyPacket(key: KeyPacket, comment = ''): string {
  return formatPublicKeyLine(sshBlobFromKeyPacket(key), comment);
}

/** A node:crypto public key for an OpenPGP key that has an SSH form. @throws UnsupportedError */
export function keyObjectFromKeyPacket(key: KeyPacket): KeyObject {
  return keyObjectFromSshBlob(sshBlobFromKeyPacket(key));
}
