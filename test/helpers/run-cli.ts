/**
 * The one in-process command runner of the tests: a command's main() with given arguments,
 * stdin, environment and directory, capturing what it prints and its exit code.
 */
import { Readable } from 'node:stream';
import type { Io } from '../../src/cli/io.js';

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  /** stdout as UTF-8. */
  text: string;
}

export async function runCli(
  main: (argv: string[], io: Io) => Promise<number>,
  argv: string[],
  opts: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: string[] = [];
  const io: Io = {
    stdout: { write: (c: string | Uint8Array) => out.push(Buffer.from(c)) },
    stderr: { write: (c: string | Uint8Array) => err.push(Buffer.from(c).toString('utf8')) },
    stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]),
    env: { PATH: process.env.PATH, ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
  };
  const code = await main(argv, io);
  const stdout = Buffer.concat(out);
  return { code, stdout, stderr: err.join(''), text: stdout.toString('utf8') };
}
