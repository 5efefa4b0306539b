/**
 * A throwaway PostgreSQL server for tests, from Debian's packages: `initdb` in a temp
 * directory and `postgres` listening only on a Unix socket there, run as the `postgres`
 * system user (the server refuses root), fsync off. Each `database()` call makes a fresh,
 * empty database and returns its URL. `stop()` shuts the server down and removes the
 * directory. A server that does not come up fails with its log instead of hanging.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const START_TIMEOUT_MS = 30_000;

/** The newest PostgreSQL under /usr/lib/postgresql, or an error saying how to get one. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))) : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not installed (/usr/lib/postgresql/*/bin/postgres); run scripts/setup.sh');
  versions.sort((a, b) => Number(b) - Number(a));
  return join(root, versions[0], 'bin');
}

/** Runs a command as the postgres user when we are root (tests run as root); setpriv execs, so signals reach the server itself. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args]] : [cmd, args];
}

export class PostgresServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'ms-pg-'));
  private readonly data = join(this.dir, 'data');
  private child?: ChildProcess;
  private log = '';
  private count = 0;

  /** Starts the server; resolves once it accepts connections. */
  async start(): Promise<void> {
    const bin = binDir();
    if (process.getuid?.() === 0) chownSync(this.dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
    const [initCmd, initArgs] = asPostgres(join(bin, 'initdb'), ['-D', this.data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
    execFileSync(initCmd, initArgs, { stdio: 'pipe' });
    const [cmd, args] = asPostgres(join(bin, 'postgres'), ['-D', this.data, '-k', this.dir, '-c', 'listen_addresses=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200']);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => {
      this.log += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.log += d.toString();
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`postgres exited (${child.exitCode}) while starting:\n${this.log}`);
      try {
        const c = new pg.Client({ host: this.dir, user: 'postgres', database: 'postgres' });
        await c.connect();
        await c.end();
        return;
      } catch {
        if (Date.now() > deadline) {
          await this.stop();
          throw new Error(`postgres did not accept connections within ${START_TIMEOUT_MS} ms:\n${this.log}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The URL of the server's `postgres` database (for administration). */
  get adminUrl(): string {
    return this.url('postgres');
  }

  url(database: string): string {
    return `postgresql://postgres@/${database}?host=${encodeURIComponent(this.dir)}`;
  }

  /** A fresh, empty database; returns its URL. */
  async database(): Promise<string> {
    const name = `ms_test_${process.pid}_${++this.count}`;
    const c = new pg.Client({ host: this.dir, user: 'postgres', database: 'postgres' });
    await c.connect();
    try {
      await c.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`);
    } finally {
      await c.end();
    }
    return this.url(name);
  }

  /** Fast shutdown (SIGINT), then the directory goes. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
