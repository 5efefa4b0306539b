/**
 * The login path: one account's authorized_keys from the store, for sshd's
 * AuthorizedKeysCommand. Never touches the network; a lookup in the precomputed bindings,
 * recomputed (and saved, when the store is writable) only when the certificates changed
 * or a validity period ran out. Imports are kept lean: the certificate and trust code is
 * loaded only when a recomputation is needed.
 */
import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { UnixTime } from '../clock.js';
import { EnvironmentError, MsError, NotFoundError } from '../errors.js';
import { quoted } from '../util/printable.js';
import { lookupAccounts } from './accounts.js';
import { monkeysphereMarker } from './authorized-keys.js';
import type { GrantedKey } from './key-changes.js';
import type { LoginKeyserver, OfferedKey } from './login.js';
import type { Cert } from '../openpgp/cert.js';
import type { AccountCertifier } from './account-certifiers.js';
import { type AuthConfig, type AuthPaths, accountCertifiersSetting } from './config.js';
import { AuthStore, type BindingRow } from './store.js';
import { bindingsOf, buildUserKeys, readUserKeySources, type UserKeySources, type UserKeys, type UserKeysSettings } from './user-keys.js';

const SETUP_FIX = "run 'monkeysphere-authentication setup' as root (the store becomes readable by the monkeysphere group) and set AuthorizedKeysCommandUser monkeysphere";

/** The first directory above `path` that this process may not enter, with its mode and owner. */
function blockingDirectory(path: string): string | undefined {
  const dirs: string[] = [];
  for (let d = dirname(resolve(path)); ; d = dirname(d)) {
    dirs.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of dirs) {
    try {
      accessSync(d, constants.X_OK);
    } catch {
      return `${JSON.stringify(d)} (${modeOf(d)})`;
    }
  }
  return undefined;
}

function modeOf(path: string): string {
  try {
    const st = statSync(path);
    return `mode 0${(st.mode & 0o7777).toString(8)}, owner uid ${st.uid}, group gid ${st.gid}`;
  } catch {
    return 'mode unknown';
  }
}

/** SQLite's header says WAL (bytes 18 and 19 are 2); false when it cannot be read. */
function isWal(path: string): boolean {
  try {
    const fd = openSync(path, 'r');
    try {
      const b = Buffer.alloc(2);
      return readSync(fd, b, 0, 2, 18) === 2 && b[0] === 2;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/**
 * Opens the store for reading answers: writable when we may write it and its directory (to
 * save a recomputation: root), else read-only (sshd's AuthorizedKeysCommandUser), so an
 * unprivileged reader never tries to write. A store it cannot read is refused in one line
 * that names the path, the uid, what stands in the way and the fix (sshd logs the first
 * line of a failed command's stderr; the login log repeats it).
 * @throws EnvironmentError (MS_AUTH_STORE_UNINITIALIZED, MS_AUTH_STORE_UNREADABLE).
 */
export async function openForLookup(path: string): Promise<AuthStore> {
  const uid = process.geteuid?.();
  const unreadable = (detail: string, fix: string, cause?: unknown) =>
    new EnvironmentError('MS_AUTH_STORE_UNREADABLE', `cannot read the store ${JSON.stringify(path)} as uid ${uid}: ${detail}; fix: ${fix}`, {
      cause,
      data: { path, uid: uid ?? -1 },
      hints: [
        'the store and every directory above it must be readable by the user running this command',
        "run it as AuthorizedKeysCommandUser monkeysphere (setup gives that user's group read access), or as root",
      ],
    });
  try {
    statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new EnvironmentError('MS_AUTH_STORE_UNINITIALIZED', `the store ${JSON.stringify(path)} does not exist`, { hints: ['run: monkeysphere-authentication setup'] });
    }
    if (code !== 'EACCES') throw unreadable((err as Error).message, 'check the path and its permissions', err);
    // Usually sshd's AuthorizedKeysCommandUser lacking search permission on a directory above it.
    const dir = blockingDirectory(path);
    throw unreadable(
      `permission denied${dir ? `: cannot enter the directory ${dir}` : ''}`,
      `let uid ${uid} enter every directory above the store (chmod o+x, or group monkeysphere with g+x), or move SYSDATADIR out of a private directory; then ${SETUP_FIX}`,
      err,
    );
  }
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw unreadable(`permission denied (the store is ${modeOf(path)})`, SETUP_FIX, err);
  }
  let writable = true;
  try {
    accessSync(path, constants.W_OK);
    accessSync(dirname(path), constants.W_OK);
  } catch {
    writable = false;
  }
  try {
    return await AuthStore.open(path, { readonly: !writable });
  } catch (err) {
    if (writable || !(err instanceof MsError) || err.code !== 'MS_STORE_IO') throw err;
    // A reader without write access cannot open a WAL file (it would need its -shm), nor roll
    // back a journal an interrupted writer left: both wait for root, who converts or recovers.
    const sqlite = (err.cause as { code?: string } | undefined)?.code ?? '';
    if (isWal(path)) throw unreadable('it uses a write-ahead log (WAL), which a reader that may not write it cannot open', "run 'monkeysphere-authentication setup' as root once: it switches the store to a rollback journal", err);
    if (sqlite.startsWith('SQLITE_READONLY')) throw unreadable(`an interrupted write must be rolled back first (${err.message})`, "run any monkeysphere-authentication command as root, e.g. 'monkeysphere-authentication setup': it rolls the write back", err);
    throw unreadable(err.message, SETUP_FIX, err);
  }
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

/** What readUserKeySources needs from the configuration. */
export function userKeysSettings(config: AuthConfig['values']): UserKeysSettings {
  return { authorizedUserIds: config.AUTHORIZED_USER_IDS, rawAuthorizedKeys: config.RAW_AUTHORIZED_KEYS, strictModes: config.STRICT_MODES, authorizedCertifiers: accountCertifiersSetting(config) };
}

/** How to look up an account's bindings: the precomputed ones, or its own web when it names certifiers. */
async function accountLookup(store: AuthStore, now: UnixTime, sources: UserKeySources): Promise<(uid: string) => Promise<BindingRow[]>> {
  if (sources.certifiers.length === 0) return freshBindings(store, now);
  const { computeAccountBindings } = await import('./compute.js');
  const own = await computeAccountBindings(store, now, sources.certifiers, sources.entries.map((e) => e.userId));
  return async (uid) => own.get(uid) ?? [];
}

/** The account's files, read as the account. @throws NotFoundError (MS_AUTH_UNKNOWN_USER) */
async function accountSources(name: string, config: AuthConfig['values']): Promise<UserKeySources> {
  const account = (await lookupAccounts([name])).get(name);
  if (!account) throw new NotFoundError('MS_AUTH_UNKNOWN_USER', `unknown user ${JSON.stringify(name)}`);
  return readUserKeySources(account, userKeysSettings(config));
}

/**
 * The authorized_keys text for account `name` at `now`.
 * @throws NotFoundError (MS_AUTH_UNKNOWN_USER) when there is no such account;
 *         EnvironmentError when the store is missing or unreadable.
 */
export async function keysForUser(
  name: string,
  config: AuthConfig['values'],
  paths: AuthPaths,
  now: UnixTime,
  opts: { explain?: (lines: string[]) => void } = {},
): Promise<UserKeys> {
  const sources = await accountSources(name, config);
  const store = await openForLookup(paths.store);
  try {
    const lookup = await accountLookup(store, now, sources);
    if (opts.explain) {
      // Asked for (VERBOSE): why each user ID does or does not grant keys; costs a full explanation.
      const { explainUserIds, verboseLines } = await import('./explain.js');
      const uids = [...new Set(sources.entries.map((e) => e.userId))];
      opts.explain(uids.length === 0 ? [`account ${name} lists no user IDs`] : (await explainUserIds(store, uids, now, [], sources.certifiers)).flatMap(verboseLines));
    }
    return buildUserKeys(sources, await bindingsOf([sources], lookup), monkeysphereMarker(now));
  } finally {
    await store.close();
  }
}

export interface LoginOptions {
  offered: OfferedKey;
  /** The bound on keyserver lookups during a login, in ms; 0: none. */
  keyserverTimeoutMs: number;
  keyserver?: () => Promise<LoginKeyserver>;
  /** Seconds a granting certificate may go unconfirmed by the keyserver; 0: no bound. */
  refreshMaxAge: number;
}

export interface LoginDecision {
  accepted: boolean;
  grant?: GrantedKey;
  /** The certificate whose binding grants the key. */
  fpr?: string;
  /** In words: the user ID, certificate and certifier, or why not. */
  why: string;
  /** What happened on the way (lookups, timeouts, stale certificates). */
  notes: string[];
}

/**
 * keysForUser for a login whose offered key sshd named: the same answer, looked up on the
 * keyserver first when the key is not granted (just in time) or its certificate is staler
 * than the bound, and the decision in words (src/auth/login.ts).
 */
export async function keysForLogin(name: string, config: AuthConfig['values'], paths: AuthPaths, now: UnixTime, login: LoginOptions): Promise<{ keys: UserKeys; decision: LoginDecision }> {
  const sources = await accountSources(name, config);
  const { grantFor, lastChecked, loadFetched, lookupWithin, mayLookUp, recordChecked, saveFetched } = await import('./login.js');
  const store = await openForLookup(paths.store);
  try {
    const uids = [...new Set(sources.entries.map((e) => e.userId))];
    const marker = monkeysphereMarker(now);
    let lookup = await accountLookup(store, now, sources);
    let fetched: Cert[] = [];
    const notes: string[] = [];
    const answer = async () => {
      const keys = buildUserKeys(sources, await bindingsOf([sources], lookup), marker);
      return { keys, grant: grantFor(keys.content, login.offered) };
    };
    let { keys, grant } = await answer();
    const grantingCert = async () => (grant?.userId !== undefined ? (await lookup(grant.userId)).find((r) => grant !== undefined && r.keys.includes(grant.key))?.fpr : undefined);
    /** Looks up, then recomputes with what came: stored when we may write, else in memory only. */
    const fetchAndAnswer = async (what: string, lookups: Array<(signal: AbortSignal) => Promise<Cert[]>>) => {
      const r = await lookupWithin(login.keyserverTimeoutMs, lookups);
      if (r.timedOut) notes.push(`${what}: no answer from the keyserver within ${login.keyserverTimeoutMs} ms`);
      for (const e of r.errors) notes.push(`${what}: ${e}`);
      if (r.certs.length > 0) {
        if (!store.readonly) {
          const { ingestCerts } = await import('./ingest.js');
          await ingestCerts(store, r.certs, now);
          lookup = await accountLookup(store, now, sources);
        } else {
          fetched = [...fetched, ...r.certs];
          lookup = await inMemoryBindings(store, uids, fetched, now, sources.certifiers);
          saveFetched(paths.loginLookupsDir, name, fetched, now);
        }
        ({ keys, grant } = await answer());
      }
      return r;
    };
    const keyserver = login.keyserverTimeoutMs > 0 && login.keyserver ? await login.keyserver() : undefined;
    if (login.refreshMaxAge > 0 && !keyserver) notes.push('REFRESH_MAX_AGE has no effect while LOGIN_KEYSERVER_TIMEOUT is 0');
    const limited = !grant && keyserver && uids.length > 0 ? mayLookUp(paths.loginLookupsDir, name, now) : undefined;
    if (limited && !limited.ok) {
      notes.push(`no just-in-time lookup: ${limited.why}`);
      if (store.readonly) {
        // What the lookup of this minute brought (sshd's second ask for the same key).
        const { readCerts } = await import('../openpgp/cert.js');
        fetched = loadFetched(paths.loginLookupsDir, name, now, (b) => readCerts(b).certs);
        if (fetched.length > 0) {
          lookup = await inMemoryBindings(store, uids, fetched, now, sources.certifiers);
          ({ keys, grant } = await answer());
          notes.push(`used the ${fetched.length} certificate(s) that lookup brought`);
        }
      }
    }
    if (!grant && keyserver && uids.length > 0 && limited?.ok) {
      const carries = (c: Cert, uid: string) => !c.secret && c.users.some((u) => u.kind === 'userid' && u.text === uid);
      await fetchAndAnswer(
        'just-in-time lookup',
        uids.map((uid) => async (signal) => {
          const r = await keyserver.searchExact(uid, { signal });
          // Keys the index listed but that could not be fetched (too large: a flood, say).
          for (const u of r.unfetched ?? []) notes.push(`just-in-time lookup of ${quoted(uid)}: ${u.error.message}`);
          return r.certs.filter((c) => carries(c, uid));
        }),
      );
      notes.push(`just-in-time lookup of ${uids.length} user ID(s): the key is ${grant ? 'now' : 'still not'} granted`);
    }
    let fpr = await grantingCert();
    if (grant && fpr !== undefined && keyserver && login.refreshMaxAge > 0) {
      const checked = await lastChecked(store, fpr);
      const stale = checked === undefined || now - checked > login.refreshMaxAge;
      // Anyone may offer a public key sshd then asks about: refreshes share the lookup limit.
      const allowed = stale ? (limited ?? mayLookUp(paths.loginLookupsDir, name, now)) : undefined;
      if (stale && allowed && !allowed.ok && limited === undefined) notes.push(`certificate ${fpr} is older than REFRESH_MAX_AGE, not refreshed: ${allowed.why}`);
      if (stale && allowed?.ok) {
        const target = fpr;
        const r = await fetchAndAnswer('freshness refresh', [async (signal) => (await keyserver.getByFingerprint(target, { signal })).certs.filter((c) => c.primary.fpr === target)]);
        const age = checked === undefined ? 'never confirmed' : `last confirmed ${now - checked} s ago`;
        if (r.certs.length > 0) {
          await recordChecked(store, [target], now);
          notes.push(`certificate ${target} was ${age}, more than REFRESH_MAX_AGE ${login.refreshMaxAge} s: refreshed`);
        } else notes.push(`certificate ${target} was ${age}, more than REFRESH_MAX_AGE ${login.refreshMaxAge} s, and could not be refreshed; the stored certificate was used`);
        fpr = await grantingCert();
      }
    }
    let why: string;
    if (!grant) why = `not among the ${keys.keyLines} key(s) the account's ${uids.length} user ID(s) grant${keys.rawIncluded ? ' or its own authorized_keys lines' : ''}`;
    else if (grant.userId === undefined) why = "a key line of the account's own authorized_keys file";
    else {
      // Who vouched, cheaply: the certifiers whose certification stands (not a whole explanation).
      const { vouchingCertifiers } = await import('./explain.js');
      const target = fetched.find((c) => c.primary.fpr === fpr) ?? (fpr !== undefined ? (await store.loadCerts([fpr]))[0] : undefined);
      const by = target && grant.userId !== undefined ? await vouchingCertifiers(store, target, grant.userId, now, sources.certifiers) : [];
      const via = by.length > 0 ? `certified by ${by.map((b) => `${b.fpr}${b.userId !== undefined ? ` ${quoted(b.userId)}` : ''}`).join(' and ')}` : `valid through a longer certification path ('monkeysphere-authentication explain ${name}' shows it)`;
      why = `user ID ${quoted(grant.userId)}, certificate ${fpr ?? '?'}: fully valid, ${via}`;
    }
    return { keys, decision: { accepted: grant !== undefined, grant, fpr, why, notes } };
  } finally {
    await store.close();
  }
}

/** Bindings of `uids` computed in memory with `extra` certificates merged in and the account's own certifiers (a reader that may not write). */
async function inMemoryBindings(store: AuthStore, uids: string[], extra: Cert[], now: UnixTime, accountCertifiers: AccountCertifier[]): Promise<(uid: string) => Promise<BindingRow[]>> {
  const { computeAccountBindings } = await import('./compute.js');
  const byUid = await computeAccountBindings(store, now, accountCertifiers, uids, extra);
  return async (uid) => byUid.get(uid) ?? [];
}
