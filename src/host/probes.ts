/** What diagnostics asks the system: this host's name, and the host keys sshd uses. */
import { spawnSync } from 'node:child_process';
import { hostname as osHostname } from 'node:os';
import { parseSshdHostKeys } from './diagnostics.js';

/** `hostname -f`, else the kernel's host name. */
export function defaultHostname(): string {
  const r = spawnSync('hostname', ['-f'], { encoding: 'utf8' });
  const name = r.status === 0 ? r.stdout.trim() : '';
  return name || osHostname();
}

/** The HostKey files of sshd's effective configuration, from `command` (sshd -T). */
export function sshdHostKeys(command: string[]): { files: string[] } | { error: string } {
  const r = spawnSync(command[0], command.slice(1), { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return { error: r.error.message };
  if (r.status !== 0) return { error: `${command.join(' ')} exited with status ${r.status}: ${r.stderr.trim().split('\n')[0] ?? ''}` };
  return { files: parseSshdHostKeys(r.stdout) };
}
