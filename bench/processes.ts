/**
 * Process helpers the keyserver benchmarks share (keyserver.bench.ts, recon.bench.ts): the
 * children's environment, the command line of `monkeysphere-keyserver`, a whole process under
 * GNU time, and a running process's CPU and peak memory from /proc. Not a benchmark itself
 * (scripts/bench.sh runs `*.bench.ts` only).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = new URL('../', import.meta.url).pathname;

/** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/** The environment of every child: ours must not see NODE_EXTRA_CA_CERTS (sshd and cron do not set it). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8', ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** `monkeysphere-keyserver ARGS`: the built command (`built`), or the sources through tsx. */
export function keyserverCommand(args: string[], opts: { built: boolean; nodeOptions?: string[] }): [string, string[]] {
  const nodeOptions = opts.nodeOptions ?? [];
  if (opts.built) return [process.execPath, [...nodeOptions, join(ROOT, 'bin/monkeysphere-keyserver.js'), ...args]];
  // A file, not `-e`: `serve --workers` starts its workers by running the same file again.
  return [process.execPath, [...nodeOptions, '--import', 'tsx', join(ROOT, 'test/hkp/run-keyserver.ts'), ...args]];
}

export interface Timed {
  wallS: number;
  cpuS: number;
  maxRssMb: number;
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end under GNU time: wall and CPU seconds, peak memory. */
export function timed(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; tmp: string }): Timed {
  const out = join(opts.tmp, `time.${process.pid}.txt`);
  const r = spawnSync('/usr/bin/time', ['-o', out, '-f', '%e %U %S %M', cmd, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? childEnv(),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [e, u, s, m] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  rmSync(out, { force: true });
  return { wallS: e, cpuS: u + s, maxRssMb: m / 1024, status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The CPU seconds of a running process and of its children (the workers of `serve --workers`), from /proc. */
export function treeCpu(pid: number): number {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((c) => c !== '').map(Number);
  } catch {
    // Gone, or no children file: the process alone.
  }
  let total = 0;
  for (const p of [pid, ...children]) {
    try {
      total += procCpu(p).cpuS;
    } catch {
      // Ended meanwhile.
    }
  }
  return total;
}

/** User + system CPU seconds of a running process and its peak memory, from /proc. */
export function procCpu(pid: number): { cpuS: number; hwmMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuS, hwmMb: hwm ? Number(hwm[1]) / 1024 : 0 };
}
