/**
 * `update-users`: writes $SYSDATADIR/authorized_keys/USER for each account, safely:
 * each file is replaced atomically (readers see the old or the new file, never a
 * partial one), owned by the invoking user with the account's group able to read it;
 * an empty answer removes the file, but an incomplete one (an unreadable input) leaves
 * the old file in place, so a failure of ours never locks anyone out; a user's file that
 * is refused counts as empty, so a user cannot freeze access that was since revoked.
 * Users' files are all read once, first, with no other file-system work in flight,
 * because reading takes on each user's identity (src/files/as-user.ts).
 * Keyserver lookups (CHECK_KEYSERVER) come first, bounded, and their failure only means
 * the store's certificates are used as they are.
 * Not here: validity (compute.ts), the content of one account's file (user-keys.ts).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { chmod, chown, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { UnixTime } from '../clock.js';
import { errorMessage, MsError } from '../errors.js';
import type { Cert } from '../openpgp/cert.js';
import type { AccountCertifier } from './account-certifiers.js';
import type { Account } from './accounts.js';
import { monkeysphereMarker } from './authorized-keys.js';
import { type GrantedKey, keyChanges } from './key-changes.js';
import { computeAccountBindings, refreshBindings } from './compute.js';
import { type DroppedCounts, droppedTotal, ingestCerts } from './ingest.js';
import type { AuthStore } from './store.js';
import { bindingsOf, buildUserKeys, readUserKeySources, type UserKeys, type UserKeysSettings } from './user-keys.js';

/** Where certificates for a user ID come from (a keyserver); searched by exact user ID. */
export interface CertSource {
  searchExact(userId: string, opts?: { signal?: AbortSignal }): Promise<{ certs: Cert[] }>;
}

export type UpdateEvent =
  | { type: 'user'; name: string; outcome: UserOutcome }
  | { type: 'keyserver-error'; userId: string; error: MsError }
  | { type: 'keyserver-skipped'; remaining: number; reason: string }
  | { type: 'keyserver-fetched'; userId: string; certs: number }
  | { type: 'keyserver-dropped'; userId: string; fpr: string; dropped: DroppedCounts };

export interface UserOutcome {
  name: string;
  /** written: new content installed; unchanged: same as before; removed: the file was deleted; absent: nothing to write, no file; kept: the old file stays (incomplete input or a failed write). */
  action: 'written' | 'unchanged' | 'removed' | 'absent' | 'kept';
  keys?: UserKeys;
  error?: string;
  /** Keys the account gained and lost with this run (none when the file was kept). */
  added: GrantedKey[];
  removed: GrantedKey[];
  /** The account's own identity certifiers, which its answer was computed with. */
  certifiers?: AccountCertifier[];
}

export interface UpdateUsersOptions {
  store: AuthStore;
  accounts: Account[];
  settings: UserKeysSettings;
  /** $SYSDATADIR/authorized_keys. */
  outputDir: string;
  now: UnixTime;
  /** When given (CHECK_KEYSERVER=true), user IDs are looked up there first. */
  keyserver?: CertSource;
  /** Total time for all keyserver lookups of the run (default 60 s). */
  keyserverBudgetMs?: number;
  onEvent?: (e: UpdateEvent) => void;
}

export interface UpdateUsersResult {
  users: UserOutcome[];
  /** True when any account had a problem or could not be written. */
  problems: boolean;
}

/**
 * Fetches certificates for these user IDs into the store, a few at a time, within a
 * total budget; after the first temporary failure (every server down or slow) the rest
 * are skipped, so a dead keyserver costs one timeout, not one per user ID.
 */
export async function fetchUserIds(store: AuthStore, source: CertSource, userIds: string[], now: UnixTime, budgetMs: number, onEvent?: (e: UpdateEvent) => void): Promise<void> {
  const queue = [...new Set(userIds)];
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`keyserver lookups took longer than ${budgetMs} ms`)), budgetMs);
  let stopped: string | undefined;
  const worker = async () => {
    for (;;) {
      if (stopped) return;
      const uid = queue.shift();
      if (uid === undefined) return;
      try {
        const r = await source.searchExact(uid, { signal: controller.signal });
        // Only certificates that carry the exact user ID are of any use here.
        const useful = r.certs.filter((c) => c.users.some((u) => u.kind === 'userid' && u.text === uid) && !c.secret);
        if (useful.length > 0) {
          // Through the one ingest path: no local signatures, floods cut to a budget (ingest.ts).
          const ingested = await ingestCerts(store, useful, now);
          for (const c of ingested.certs) if (droppedTotal(c.dropped) > 0) onEvent?.({ type: 'keyserver-dropped', userId: uid, fpr: c.fpr, dropped: c.dropped });
        }
        onEvent?.({ type: 'keyserver-fetched', userId: uid, certs: useful.length });
      } catch (err) {
        const error = err instanceof MsError ? err : new MsError('MS_AUTH_KEYSERVER', errorMessage(err), { cause: err });
        onEvent?.({ type: 'keyserver-error', userId: uid, error });
        if (error.exitCode === 5 || controller.signal.aborted) stopped ??= error.message;
      }
    }
  };
  try {
    await Promise.all([worker(), worker(), worker(), worker()]);
  } finally {
    clearTimeout(timer);
  }
  if (stopped && queue.length > 0) onEvent?.({ type: 'keyserver-skipped', remaining: queue.length, reason: stopped });
}

/**
 * Replaces `target` atomically, like writeFileAtomic (src/files/atomic.ts) but asynchronous,
 * so the fsyncs of many accounts overlap: write a temporary file beside it, fsync, set
 * owner and mode, rename. Returns false when the file already had this content (`before`,
 * as read by the caller).
 */
async function replaceFile(target: string, content: string, mode: number, uid: number, gid: number, before?: string): Promise<boolean> {
  const data = Buffer.from(content);
  if (before === content) {
    await chmod(target, mode);
    await chown(target, uid, gid);
    return false;
  }
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
      await fh.chmod(mode);
      await fh.chown(uid, gid);
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
    return true;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Temporary files replaceFile makes; any left in the directory were left by a killed run (we hold the lock). */
const TEMPORARY = /^\..+\.[0-9a-f]{12}\.tmp$/;

async function removeLeftovers(outputDir: string): Promise<void> {
  for (const name of await readdir(outputDir)) {
    if (TEMPORARY.test(name)) await rm(join(outputDir, name), { force: true });
  }
}

/** Installs one account's file; returns what was done. */
async function install(outputDir: string, account: Account, keys: UserKeys): Promise<UserOutcome> {
  const target = join(outputDir, account.name);
  const none = { added: [], removed: [] };
  if (keys.incomplete) return { name: account.name, action: 'kept', keys, ...none };
  try {
    const before = await readFile(target, 'utf8').catch(() => '');
    const changes = before === keys.content ? { added: [], removed: [] } : keyChanges(before, keys.content);
    if (keys.content.length === 0) {
      let existed = true;
      try {
        await unlink(target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        existed = false;
      }
      return { name: account.name, action: existed ? 'removed' : 'absent', keys, ...changes };
    }
    // Owned by us (root, like sshd), readable by the account's group: sshd reads it as the user.
    const changed = await replaceFile(target, keys.content, 0o640, process.getuid?.() ?? 0, account.gid, before);
    return { name: account.name, action: changed ? 'written' : 'unchanged', keys, ...changes };
  } catch (err) {
    return { name: account.name, action: 'kept', keys, error: errorMessage(err), ...none };
  }
}

/** Files installed at once: enough for the fsyncs to overlap, few enough to stay well under the open-file limit. */
const INSTALL_CONCURRENCY = 16;

/**
 * Runs update-users for the given accounts. The caller holds the lock. Bindings are
 * brought up to date first (after any keyserver lookups), then each account is handled
 * on its own: one account's failure does not stop the others.
 */
export async function updateUsers(opts: UpdateUsersOptions): Promise<UpdateUsersResult> {
  const { store, settings, now } = opts;
  // Every user's files first, synchronously: nothing else may touch the file system while
  // we hold a user's identity.
  const sources = opts.accounts.map((account) => readUserKeySources(account, settings));
  if (opts.keyserver) {
    const uids = sources.flatMap((s) => s.entries.map((e) => e.userId));
    if (uids.length > 0) await fetchUserIds(store, opts.keyserver, uids, now, opts.keyserverBudgetMs ?? 60_000, opts.onEvent);
  }
  await refreshBindings(store, now);
  mkdirSync(opts.outputDir, { recursive: true, mode: 0o755 });
  chmodSync(opts.outputDir, 0o755);
  await removeLeftovers(opts.outputDir);
  const marker = monkeysphereMarker(now);
  const bindings = await bindingsOf(sources, (uid) => store.bindingsFor(uid));
  const contents: UserKeys[] = [];
  for (const s of sources) {
    // An account with its own certifiers has its own web of trust (account-certifiers.ts).
    const own = s.certifiers.length > 0 ? await computeAccountBindings(store, now, s.certifiers, s.entries.map((e) => e.userId)) : undefined;
    contents.push(buildUserKeys(s, own ?? bindings, marker));
  }
  const users: UserOutcome[] = new Array(opts.accounts.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < opts.accounts.length; i = next++) users[i] = { ...(await install(opts.outputDir, opts.accounts[i], contents[i])), certifiers: sources[i].certifiers };
  };
  await Promise.all(Array.from({ length: INSTALL_CONCURRENCY }, worker));
  let problems = false;
  for (const outcome of users) {
    if (outcome.action === 'kept' || (outcome.keys?.problems.length ?? 0) > 0) problems = true;
    opts.onEvent?.({ type: 'user', name: outcome.name, outcome });
  }
  return { users, problems };
}
