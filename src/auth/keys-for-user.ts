/**
 * The login path: one account's authorized_keys from the store, for sshd's
 * AuthorizedKeysCommand. Never touches the network; a lookup in the precomputed bindings,
 * recomputed (and saved, when the store is writable) only when the certificates changed
 * or a validity period ran out. Imports are kept lean: the certificate and trust code is
 * loaded only when a recomputation is needed.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { UnixTime } from '../clock.js';
import { EnvironmentError, NotFoundError } from '../errors.js';
import { lookupAccounts } from './accounts.js';
import { monkeysphereMarker } from './authorized-keys.js';
import type { AuthConfig, AuthPaths } from './config.js';
import { AuthStore, type BindingRow } from './store.js';
import { bindingsOf, buildUserKeys, readUserKeySources, type UserKeys } from './user-keys.js';

/**
 * Opens the store for reading answers: writable when we may write it and its directory (to
 * save a recomputation: root), else read-only (sshd's AuthorizedKeysCommandUser), so an
 * unprivileged reader never tries to write.
 * @throws EnvironmentError (MS_AUTH_STORE_UNINITIALIZED, MS_STORE_IO) naming the path, the uid and the fix.
 */
export async function openForLookup(path: string): Promise<AuthStore> {
  const uid = process.geteuid?.();
  const unreadable = (detail: string, cause?: unknown) =>
    new EnvironmentError('MS_STORE_IO', `cannot read the store ${JSON.stringify(path)} as uid ${uid}: ${detail}`, {
      cause,
      hints: [
        'the store and every directory above it must be readable by the user running this command',
        'run it as AuthorizedKeysCommandUser monkeysphere (setup gives that user\'s group read access), or as root',
      ],
    });
  try {
    statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new EnvironmentError('MS_AUTH_STORE_UNINITIALIZED', `the store ${JSON.stringify(path)} does not exist`, { hints: ['run: monkeysphere-authentication setup'] });
    }
    // Usually sshd's AuthorizedKeysCommandUser lacking search permission on a directory above it.
    throw unreadable(code === 'EACCES' ? 'permission denied' : (err as Error).message, err);
  }
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw unreadable('permission denied', err);
  }
  let writable = true;
  try {
    accessSync(path, constants.W_OK);
    accessSync(dirname(path), constants.W_OK);
  } catch {
    writable = false;
  }
  return AuthStore.open(path, { readonly: !writable });
}

/**
 * Brings the bindings up to date for `now`; loads the computation code only when needed.
 * Returns how to look bindings up: in the store, or, for a read-only store that had to
 * recompute, in memory.
 */
export async function freshBindings(store: AuthStore, now: UnixTime): Promise<(uid: string) => Promise<BindingRow[]>> {
  const fromStore = (uid: string) => store.bindingsFor(uid);
  if (await store.isFresh(now)) return fromStore;
  const { refreshBindings } = await import('./compute.js');
  const computed = await refreshBindings(store, now);
  if (!computed || !store.readonly) return fromStore;
  const byUid = new Map<string, BindingRow[]>();
  for (const r of computed.rows) {
    const list = byUid.get(r.uid);
    if (list) list.push(r);
    else byUid.set(r.uid, [r]);
  }
  return async (uid) => byUid.get(uid) ?? [];
}

/**
 * The authorized_keys text for account `name` at `now`.
 * @throws NotFoundError (MS_AUTH_UNKNOWN_USER) when there is no such account;
 *         EnvironmentError when the store is missing or unreadable.
 */
export async function keysForUser(name: string, config: AuthConfig['values'], paths: AuthPaths, now: UnixTime): Promise<UserKeys> {
  const accounts = await lookupAccounts([name]);
  const account = accounts.get(name);
  if (!account) throw new NotFoundError('MS_AUTH_UNKNOWN_USER', `unknown user ${JSON.stringify(name)}`);
  const sources = readUserKeySources(account, { authorizedUserIds: config.AUTHORIZED_USER_IDS, rawAuthorizedKeys: config.RAW_AUTHORIZED_KEYS, strictModes: config.STRICT_MODES });
  const store = await openForLookup(paths.store);
  try {
    const lookup = await freshBindings(store, now);
    return buildUserKeys(sources, await bindingsOf([sources], lookup), monkeysphereMarker(now));
  } finally {
    await store.close();
  }
}
