/**
 * Running a short synchronous step with a user's file-system privileges, as sshd reads
 * `~/.ssh/authorized_keys` after dropping to the user: a file the user cannot read
 * (`/etc/shadow` behind a symlink) is refused by the kernel, not by our checks.
 *
 * Only the effective IDs change (seteuid/setegid and the supplementary groups), and glibc
 * applies them to every thread, so callers MUST NOT have asynchronous file-system work in
 * flight on libuv's thread pool while `fn` runs: it would run with the user's rights.
 * `fn` must be synchronous and short (an open, not a read of unbounded size).
 */
import { EnvironmentError, errorMessage } from '../errors.js';

export interface UserIdentity {
  name: string;
  uid: number;
  gid: number;
}

/** initgroups(3) exists on POSIX but is missing from @types/node 20. */
type PosixProcess = NodeJS.Process & { initgroups?: (user: string | number, extraGroup: string | number) => void };

/** Whether this process can take on another user's identity (it runs as root on POSIX). */
export function canSwitchUser(): boolean {
  return typeof process.seteuid === 'function' && process.geteuid?.() === 0;
}

/**
 * Runs `fn` as `user` when we are root and `user` is not; otherwise with our own rights.
 * Returns whether the identity was switched, with fn's result.
 * @throws whatever fn throws; EnvironmentError (MS_PRIVILEGES) when the switch back fails
 *         (the process must not go on half-privileged, so that is fatal to the caller).
 */
export function asUser<T>(user: UserIdentity, fn: () => T): { switched: boolean; value: T } {
  if (!canSwitchUser() || user.uid === 0) return { switched: false, value: fn() };
  const savedGroups = process.getgroups?.() ?? [];
  const savedEgid = process.getegid?.() ?? 0;
  try {
    // Supplementary groups first (needs euid 0), then the group, then the user.
    try {
      (process as PosixProcess).initgroups?.(user.name, user.gid);
    } catch {
      // A name the group database does not know: the primary group alone, as for a user in no other group.
      process.setgroups?.([user.gid]);
    }
    process.setegid?.(user.gid);
    process.seteuid?.(user.uid);
  } catch (err) {
    restore(savedGroups, savedEgid);
    throw new EnvironmentError('MS_PRIVILEGES', `cannot take on the identity of ${user.name}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return { switched: true, value: fn() };
  } finally {
    restore(savedGroups, savedEgid);
  }
}

function restore(groups: number[], egid: number): void {
  try {
    process.seteuid?.(0);
    process.setegid?.(egid);
    process.setgroups?.(groups);
  } catch (err) {
    throw new EnvironmentError('MS_PRIVILEGES', `cannot restore root privileges: ${errorMessage(err)}`, { cause: err });
  }
}
