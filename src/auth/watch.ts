/**
 * `watch`: update-users when something it depends on changes, without waiting for cron.
 * It polls, cheaply, what can change an account's authorized_keys: the account's own files
 * (authorized_user_ids, the raw authorized_keys), the store's change seq (certifiers added
 * or removed, certificates imported or refreshed), and the time the precomputed bindings
 * stop holding (a key expiring). Polling rather than inotify: homes come and go, may sit
 * on NFS, and a stat per account every few seconds costs nothing; files are only stat'ed
 * here, never read (update-users reads them as their owner); stat follows symlinks without
 * opening, so a FIFO there cannot block.
 * Not here: what an update does (update-users.ts).
 */
import { lstatSync, statSync } from 'node:fs';
import type { UnixTime } from '../clock.js';
import type { Account } from './accounts.js';
import { translateSshVariables } from './config.js';
import type { UserKeysSettings } from './user-keys.js';

/** What a path looks like now: enough to notice a write, a replacement or a removal. */
export function pathSignature(path: string): string {
  // The name and what it leads to: a symlinked file (a dotfile manager's) changes at its target.
  const look = (f: typeof lstatSync) => {
    try {
      const st = f(path);
      return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.mode}:${st.uid}`;
    } catch (err) {
      return `absent:${(err as NodeJS.ErrnoException).code ?? ''}`;
    }
  };
  return `${look(lstatSync)}>${look(statSync)}`;
}

/** The signature of everything of an account's own that update-users reads. */
export function accountSignature(account: Account, settings: UserKeysSettings): string {
  const paths = [translateSshVariables(settings.authorizedUserIds, account)];
  if (settings.rawAuthorizedKeys !== 'none') paths.push(translateSshVariables(settings.rawAuthorizedKeys, account));
  if (settings.authorizedCertifiers !== undefined && settings.authorizedCertifiers !== 'none') paths.push(translateSshVariables(settings.authorizedCertifiers, account));
  return paths.map(pathSignature).join('|');
}

export interface WatchState {
  accounts: Map<string, string>;
  seq: number;
  /** When the bindings stop holding (Unix seconds); null for never. */
  validUntil: UnixTime | null;
}

export interface WatchChanges {
  /** Every account must be updated (the store changed, or time ran past the bindings). */
  all: boolean;
  /** Accounts whose own files changed. */
  accounts: string[];
}

/** What changed between two looks; accounts that appeared count as changed, vanished ones do not. */
export function changesBetween(before: WatchState, after: WatchState, now: UnixTime): WatchChanges {
  const all = before.seq !== after.seq || (before.validUntil !== null && now >= before.validUntil);
  const accounts: string[] = [];
  for (const [name, sig] of after.accounts) if (before.accounts.get(name) !== sig) accounts.push(name);
  return { all, accounts };
}
