/**
 * The answer to "which keys does this user ID grant?" for a GnuPG home, kept between runs so
 * that an ssh connection does not pay for reading the keyring: home-keys.ts computes the
 * table of every user ID once, and it is stored (a derived table of the user's cache store,
 * src/gnupg/cache.ts) under a stamp naming the home's files by their inode, size and change
 * times, this code, and the window of reference times the answer holds for. While all of
 * them match, a lookup is one indexed read; any change (gpg imports a key, edits trust,
 * gpg.conf changes, a signature expires) recomputes. gpg replaces keyring files by renaming
 * a new one into place, so their inode and ctime change with every write.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UnixTime } from '../clock.js';
import type { Env } from '../gnupg/gpg.js';
import type { Store } from '../store/types.js';
import type { HomeKeys, UidCert } from './home-keys.js';

/** The files whose change changes the answer (gpg 2.2's keyrings, trust database and options). */
const HOME_FILES = ['pubring.kbx', 'pubring.gpg', 'trustdb.gpg', 'gpg.conf', 'common.conf', 'public-keys.d'];
// 2: each key carries its fingerprint, flags and state (the validation agent matches on them).
const STAMP_FORMAT = 'user-ids-2';

/** The state of a GnuPG home's files, as stat sees them: equal states mean unchanged files. */
export function homeState(home: string): string {
  return HOME_FILES.map((name) => {
    try {
      const s = statSync(join(home, name), { bigint: true });
      return `${name}:${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    } catch {
      return `${name}:-`;
    }
  }).join('|');
}

/** Names this build of the code: an upgrade or rebuild rewrites the module, so its times change. */
function codeState(): string {
  try {
    const s = statSync(fileURLToPath(import.meta.url), { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return 'unknown';
  }
}

interface Stamp {
  format: string;
  home: string;
  code: string;
  after: number | null;
  before: number | null;
}

export interface UserIdIndex {
  /** The certificates carrying exactly `userId`, in keyring order; none when no certificate has it. */
  lookup(userId: string): Promise<UidCert[]>;
  /** `stored`: answered from the kept table; `computed`: the keyring was read. */
  readonly from: 'stored' | 'computed';
}

export interface OpenIndexOptions {
  env: Env;
  /** Where tables are kept; none: compute every time. */
  store?: Store;
  onWarning?: (message: string) => void;
  /** Recompute even when a kept table matches (after importing certificates, say). */
  fresh?: boolean;
}

function tableName(home: string): string {
  return `monkeysphere-user-ids ${home}`;
}

function parseStamp(text: string): Stamp | undefined {
  try {
    const s = JSON.parse(text) as Stamp;
    return s.format === STAMP_FORMAT ? s : undefined;
  } catch {
    return undefined;
  }
}

const bound = (n: number) => (Number.isFinite(n) ? n : null);

/**
 * The index of the GnuPG home `home` at reference time `now`: the kept table when it still
 * holds, else a fresh computation (kept for next time when a store is given).
 * @throws the errors of computeHomeKeys when the home must be read and cannot be.
 */
export async function openUserIdIndex(home: string, now: UnixTime, opts: OpenIndexOptions): Promise<UserIdIndex> {
  const name = tableName(home);
  const state = homeState(home);
  const code = codeState();
  const store = opts.store;
  if (store && !opts.fresh) {
    try {
      const kept = await store.derived.stamp(name);
      const stamp = kept && parseStamp(kept.stamp);
      if (stamp && stamp.home === state && stamp.code === code && (stamp.after === null || now > stamp.after) && (stamp.before === null || now < stamp.before)) {
        return {
          from: 'stored',
          lookup: async (userId) => {
            try {
              return (await store.derived.lookup(name, userId)).map((v) => JSON.parse(v) as UidCert);
            } catch (err) {
              // A damaged cache must not cost the answer: compute it, without the cache.
              opts.onWarning?.(`the kept answer cannot be read (${(err as Error).message}); computing it`);
              return (await compute(home, now, { ...opts, store: undefined }, name, state, code)).lookup(userId);
            }
          },
        };
      }
    } catch (err) {
      opts.onWarning?.(`the kept answer cannot be read (${(err as Error).message}); computing it`);
      return compute(home, now, { ...opts, store: undefined }, name, state, code);
    }
  }
  return compute(home, now, opts, name, state, code);
}

async function compute(home: string, now: UnixTime, opts: OpenIndexOptions, name: string, state: string, code: string): Promise<UserIdIndex> {
  const store = opts.store;
  // The slow path's modules load only when needed: the per-connection path stays lean.
  const { computeHomeKeys } = await import('./home-keys.js');
  let seq = 0;
  try {
    seq = store ? await store.changes.latest() : 0;
  } catch {
    // Unreadable: the table is then not kept.
  }
  const computed: HomeKeys = await computeHomeKeys(home, now, { env: opts.env, verifications: store?.verifications, onWarning: opts.onWarning });
  if (store && !store.readonly && homeState(home) === state) {
    // Kept only if the files did not change while we read them: else the next run computes again.
    const stamp: Stamp = { format: STAMP_FORMAT, home: state, code, after: bound(computed.window.after), before: bound(computed.window.before) };
    const rows: Array<[string, string]> = [];
    for (const [uid, certs] of computed.byUserId) for (const c of certs) rows.push([uid, JSON.stringify(c)]);
    try {
      await store.derived.replace(name, JSON.stringify(stamp), seq, rows);
    } catch (err) {
      opts.onWarning?.(`the computed keys were not kept: ${(err as Error).message}`);
    }
  }
  return { from: 'computed', lookup: async (userId) => computed.byUserId.get(userId) ?? [] };
}
