/**
 * The one place where errors become messages and exit codes. Every command's main()
 * goes through runCommand, so all tools print `<tool>: error: …`, `<tool>: hint: …` and
 * `<tool>: code: MS_…` on stderr and exit with the code of the error class (see
 * src/errors.ts; every code is listed in docs/errors.md).
 */
import { CommanderError } from 'commander';
import { errorMessage, MsError } from '../errors.js';
import { withoutControls } from '../util/printable.js';
import type { Io } from './io.js';

export const EXIT = { ok: 0, no: 1, usage: 2, input: 3, environment: 4, temporary: 5, bug: 70 } as const;

/** Prints an error the standard way and returns the exit code to use. */
export function reportError(tool: string, io: Io, err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed its message; map its codes to ours.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof MsError) {
    // Messages quote keys, user IDs and servers' answers: no control character reaches the terminal.
    io.stderr.write(`${tool}: error: ${withoutControls(err.message)}\n`);
    for (const h of err.hints) io.stderr.write(`${tool}: hint: ${withoutControls(h)}\n`);
    // The code (docs/errors.md) is the stable part for scripts and log searches; the wording may
    // change. On its own line, so the message lines stay those of the original Monkeysphere.
    io.stderr.write(`${tool}: code: ${err.code}\n`);
    if (io.env.MONKEYSPHERE_DEBUG && err.stack) io.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  io.stderr.write(`${tool}: error: internal error: ${withoutControls(errorMessage(err))}\n`);
  if (err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return EXIT.bug;
}

/** Runs a command body, turning any thrown error into a message and an exit code. */
export async function runCommand(tool: string, io: Io, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    return reportError(tool, io, err);
  }
}
