/**
 * sshd's StrictModes check (auth.c secure_filename / Monkeysphere's checkperms): the
 * file and every directory above it, up to the user's home (or /), after resolving
 * symlinks, must be owned by the user or root and not writable by group or others.
 */
import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export interface PermissionProblem {
  path: string;
  problem: 'owner' | 'group-writable' | 'other-writable' | 'missing';
}

/** Monkeysphere's wording of a problem, e.g. `improper group writability on '/home/bob'`. */
export function describeProblem(p: PermissionProblem): string {
  switch (p.problem) {
    case 'owner':
      return `improper ownership on '${p.path}'`;
    case 'group-writable':
      return `improper group writability on '${p.path}'`;
    case 'other-writable':
      return `improper other writability on '${p.path}'`;
    default:
      return `'${p.path}' does not exist`;
  }
}

/**
 * Checks `path` for `uid` whose home is `home`. Returns the first problem found, or
 * undefined when the path is safe.
 */
export function checkPerms(path: string, uid: number, home: string): PermissionProblem | undefined {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return { path, problem: 'missing' };
  }
  let homeReal = home;
  try {
    homeReal = realpathSync(home);
  } catch {
    // A missing home: check all the way up to /.
  }
  for (let p = real; ; p = dirname(p)) {
    const st = statSync(p);
    if (st.uid !== uid && st.uid !== 0) return { path: p, problem: 'owner' };
    if (st.mode & 0o020) return { path: p, problem: 'group-writable' };
    if (st.mode & 0o002) return { path: p, problem: 'other-writable' };
    if (p === homeReal || p === '/' || dirname(p) === p) return undefined;
  }
}
