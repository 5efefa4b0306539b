/**
 * Child process of jwk-export-deadlock.test.ts: generates keys and at once takes their
 * material out through our own code (the pattern that deadlocked Node 20 while we
 * exported JWK), many times over. Prints one line per algorithm as it finishes, so a
 * hang shows where. Usage: node --import tsx key-generation-loop.ts ED25519 EC RSA
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { keyPacketFor } from '../../src/openpgp/build.js';
import { formatOpenSshPrivateKey } from '../../src/ssh/openssh-private.js';
import { isSupportedKey } from '../../src/ssh/private-key.js';
import { formatPublicKeyLine, sshBlobFromKeyObject } from '../../src/ssh/public-key.js';
import { privateKeyMaterial, publicKeyMaterial } from '../../src/util/key-material.js';

const [ed25519, ec, rsa] = process.argv.slice(2).map(Number);

function useKeys(privateKey: KeyObject, publicKey: KeyObject): void {
  publicKeyMaterial(publicKey);
  privateKeyMaterial(privateKey);
  isSupportedKey(privateKey);
  formatPublicKeyLine(sshBlobFromKeyObject(publicKey));
  formatOpenSshPrivateKey(privateKey);
  keyPacketFor(privateKey, 1700000000, { secret: true });
  keyPacketFor(publicKey, 1700000000);
}

function loop(label: string, count: number, generate: () => { privateKey: KeyObject; publicKey: KeyObject }): void {
  for (let i = 0; i < count; i++) {
    const { privateKey, publicKey } = generate();
    useKeys(privateKey, publicKey);
  }
  console.log(`${label}: ${count} done`);
}

loop('ed25519', ed25519, () => generateKeyPairSync('ed25519'));
loop('ecdsa P-256', ec, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
// 1024 bits: only the generate-then-extract pattern matters, and bigger keys are slow to make.
loop('rsa', rsa, () => generateKeyPairSync('rsa', { modulusLength: 1024 }));
