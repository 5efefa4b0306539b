/**
 * Accounts as the system's name service sees them: `getent passwd` (so NSS sources such
 * as LDAP count, like the original's list_users). One spawn for all accounts.
 */
import { execFile } from 'node:child_process';
import { EnvironmentError } from '../errors.js';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Parses passwd(5) lines; malformed lines are skipped. */
export function parsePasswd(text: string): Account[] {
  const out: Account[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] });
  }
  return out;
}

function getent(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile('getent', args, { maxBuffer: 256 * 1024 * 1024, timeout: 60_000 }, (err, stdout) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') {
        reject(new EnvironmentError('MS_AUTH_GETENT', `cannot run getent: ${err.message}`, { cause: err }));
        return;
      }
      resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout });
    });
  });
}

/** Every account (`getent passwd`), in the name service's order. */
export async function listAccounts(): Promise<Account[]> {
  const r = await getent(['passwd']);
  if (r.code !== 0) throw new EnvironmentError('MS_AUTH_GETENT', `getent passwd failed with status ${r.code}`);
  return parsePasswd(r.stdout);
}

/** The named accounts (`getent passwd NAME…`), by name; unknown names are absent from the map. */
export async function lookupAccounts(names: string[]): Promise<Map<string, Account>> {
  const out = new Map<string, Account>();
  const wanted = names.filter((n) => n !== '' && !n.includes(':') && !n.includes('\n'));
  if (wanted.length === 0) return out;
  // getent exits 2 when some key was not found but still prints the others.
  const r = await getent(['passwd', '--', ...wanted]);
  for (const a of parsePasswd(r.stdout)) {
    if (wanted.includes(a.name)) out.set(a.name, a);
    // A numeric argument looks up by uid.
    else if (wanted.includes(String(a.uid))) out.set(String(a.uid), a);
  }
  return out;
}
