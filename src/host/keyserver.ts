/**
 * The keyserver as monkeysphere-host uses it. Run as root, keyserver access happens as
 * MONKEYSPHERE_USER in a child process (as the original's `su`), so root never parses
 * network answers.
 */
import { EnvironmentError } from '../errors.js';
import { KeyserverClient } from '../keyserver/client.js';
import { type Account, type KeyserverOps, keyserverAsUser } from './unprivileged.js';

/** The keyserver operations monkeysphere-host uses (a KeyserverClient, or a test double). */
export type HostKeyserver = KeyserverOps;

export interface KeyserverAccess {
  servers: string[];
  /** MONKEYSPHERE_USER: whom keyserver access runs as when we are root. */
  monkeysphereUser: string;
  lookupAccount: (name: string) => Promise<Account | undefined>;
  debug?: (message: string) => void;
}

/**
 * The keyserver client.
 * @throws EnvironmentError (MS_HOST_NO_USER) when running as root and MONKEYSPHERE_USER does not exist.
 */
export async function hostKeyserver(access: KeyserverAccess): Promise<HostKeyserver> {
  const { servers } = access;
  if (process.getuid?.() === 0) {
    const name = access.monkeysphereUser;
    const account = await access.lookupAccount(name);
    if (!account) {
      throw new EnvironmentError('MS_HOST_NO_USER', `MONKEYSPHERE_USER ${JSON.stringify(name)} does not exist, so the keyserver cannot be used safely`, {
        hints: [`create the account (adduser --system ${name}), or set MONKEYSPHERE_USER to an existing unprivileged user`],
      });
    }
    if (account.uid !== 0) return keyserverAsUser(servers, account, access.debug);
  }
  return new KeyserverClient({ servers });
}
