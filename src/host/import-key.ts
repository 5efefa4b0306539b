/**
 * Importing a host key: an OpenPGP secret key (given the service name if it lacks it) or
 * a private key in any SSH/PEM form (made into a new host certificate). The rules: a key
 * already in the store is never imported twice, and a service name already in use on
 * another host key is reported for the command to confirm.
 */
import type { KeyObject } from 'node:crypto';
import { UsageError } from '../errors.js';
import { dearmor, isBinary } from '../openpgp/armor.js';
import type { Cert } from '../openpgp/cert.js';
import { sshBlobFromKeyObject, sshBlobFromKeyPacket } from '../ssh/index.js';
import { keysWithName } from './names.js';
import { addServiceName, hostCertFromOpenPgp, newHostCert } from './operations.js';
import type { HostKeyStore } from './store.js';

export interface ImportInput {
  /** The key file's bytes. */
  data: Buffer;
  serviceName: string;
  now: number;
  /** The new key's creation time (an X.509 certificate's notBefore, say); default `now`. Not later than `now`. */
  keyTime?: number;
  /** Parses `data` as an SSH/PEM private key (asking for a passphrase if need be); called only for such input. */
  loadPrivateKey: () => Promise<{ privateKey: KeyObject; publicKey: KeyObject }>;
}

export interface ImportPlan {
  /** The host certificate to save. */
  cert: Cert;
  /** Other host keys that already carry the service name. */
  nameInUse: string[];
}

/** Whether the input is OpenPGP (binary packets or an armored secret key) rather than SSH/PEM. */
export function looksLikeOpenPgp(data: Buffer): boolean {
  return isBinary(data) || data.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----');
}

/**
 * The certificate an import would save, and what the command must confirm.
 * @throws UsageError (MS_HOST_KEY_EXISTS) when the key is already a host key.
 */
export async function planImport(store: HostKeyStore, input: ImportInput): Promise<ImportPlan> {
  const { serviceName: name, now } = input;
  let cert: Cert;
  if (looksLikeOpenPgp(input.data)) {
    cert = hostCertFromOpenPgp(dearmor(input.data));
    if (!cert.users.map((u) => u.text).includes(name)) cert = await addServiceName(cert, name, now);
  } else {
    const loaded = await input.loadPrivateKey();
    const blob = sshBlobFromKeyObject(loaded.publicKey);
    const same = store.list().find((k) => {
      try {
        return sshBlobFromKeyPacket(k.cert.primary).equals(blob);
      } catch {
        // A host key with no SSH form cannot be this one.
        return false;
      }
    });
    if (same) {
      throw new UsageError('MS_HOST_KEY_EXISTS', `this key is already host key ${same.fpr}`, {
        hints: [`to give it another service name: monkeysphere-host add-servicename ${name} ${same.fpr}`],
      });
    }
    cert = newHostCert(loaded.privateKey, name, now, input.keyTime);
  }
  const keys = store.list();
  if (keys.some((k) => k.fpr === cert.primary.fpr)) throw new UsageError('MS_HOST_KEY_EXISTS', `host key ${cert.primary.fpr} is already imported`);
  return { cert, nameInUse: await keysWithName(keys, name, now) };
}
