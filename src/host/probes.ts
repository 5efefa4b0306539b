/** What diagnostics asks the system: this host's name, and the host keys sshd uses. */
import { spawnSync } from 'node:child_process';
import { hostname as osHostname } from 'node:os';
import { parseSshdHostKeys } from './diagnostics.js';

/** A name with a domain: what a service name needs. */
const qualified = (name: string) => /^[^.\s]+\.[^\s]*[^.\s]/.test(name);

function run(args: string[]): string {
  const r = spawnSync('hostname', args, { encoding: 'utf8', timeout: 5_000 });
  return r.status === 0 ? r.stdout.trim() : '';
}

/**
 * This host's fully qualified name: `hostname -f`, else the first qualified name of
 * `hostname -A` (the names of its addresses), else the short name, which diagnostics
 * then reports as not fully qualified.
 */
export function defaultHostname(): string {
  const f = run(['-f']);
  if (qualified(f)) return f;
  const all = run(['-A'])
    .split(/\s+/)
    .find((n) => qualified(n) && !/^localhost\b/.test(n));
  return all ?? (f || osHostname());
}

/** The HostKey files of sshd's effective configuration, from `command` (sshd -T). */
export function sshdHostKeys(command: string[]): { files: string[] } | { error: string } {
  const r = spawnSync(command[0], command.slice(1), { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return { error: r.error.message };
  if (r.status !== 0) return { error: `${command.join(' ')} exited with status ${r.status}: ${r.stderr.trim().split('\n')[0] ?? ''}` };
  return { files: parseSshdHostKeys(r.stdout) };
}
