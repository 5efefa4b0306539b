/**
 * From an OpenPGP key to the formats of openpgp2ssh, openpgp2pem and openpgp2spki:
 * public keys as an SSH line, PKCS#1 `RSA PUBLIC KEY` or SPKI `PUBLIC KEY`; secret keys
 * as PKCS#1 PEM for RSA (as the original) and the OpenSSH container for Ed25519/ECDSA.
 */
import { createPublicKey } from 'node:crypto';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { formatOpenSshPrivateKey, keyObjectFromKeyPacket, sshFingerprint, sshBlobFromKeyPacket, sshLineFromKeyPacket } from '../ssh/index.js';
import { privateKeyFromPacket } from './secret-key.js';

/** openpgp2ssh: `type base64\n` for a public key, a private key file for a secret one. */
export function toSsh(key: KeyPacket): string {
  if (!key.secretBody) return `${sshLineFromKeyPacket(key)}\n`;
  const privateKey = privateKeyFromPacket(key);
  if (privateKey.asymmetricKeyType === 'rsa') return privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  return formatOpenSshPrivateKey(privateKey);
}

/** openpgp2pem: PKCS#1 for RSA (public or private); SPKI, SEC1 or PKCS#8 for the others. */
export function toPem(key: KeyPacket): string {
  if (key.secretBody) {
    const privateKey = privateKeyFromPacket(key);
    const t = privateKey.asymmetricKeyType;
    const type = t === 'rsa' ? 'pkcs1' : t === 'ec' ? 'sec1' : 'pkcs8';
    return privateKey.export({ type, format: 'pem' }) as string;
  }
  const publicKey = keyObjectFromKeyPacket(key);
  return publicKey.export({ type: publicKey.asymmetricKeyType === 'rsa' ? 'pkcs1' : 'spki', format: 'pem' }) as string;
}

/** openpgp2spki: the SubjectPublicKeyInfo PEM of the (public part of the) key. */
export function toSpki(key: KeyPacket): string {
  const publicKey = key.secretBody ? createPublicKey(privateKeyFromPacket(key)) : keyObjectFromKeyPacket(key);
  return publicKey.export({ type: 'spki', format: 'pem' }) as string;
}

/** `SHA256:…` of the key's SSH form. */
export function toSshFingerprint(key: KeyPacket): string {
  return sshFingerprint(sshBlobFromKeyPacket(key));
}
