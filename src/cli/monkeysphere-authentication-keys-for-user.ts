/**
 * monkeysphere-authentication-keys-for-user USER: prints USER's authorized_keys, for
 * sshd_config's `AuthorizedKeysCommand /usr/bin/monkeysphere-authentication-keys-for-user %u`.
 * The login path: lean imports (no commander, no keyserver code), no network, the
 * answer read from the precomputed bindings in the store.
 * Exit codes: 0 keys printed (possibly none), 2 usage, 3 unknown user, 4 store missing or
 * unreadable, 70 bug. sshd ignores the output of a failed command.
 */
import { errorMessage, MsError } from '../errors.js';
import { authPaths, loadAuthConfig } from '../auth/config.js';
import { referenceTime } from '../clock.js';
import { keysForUser } from '../auth/keys-for-user.js';
import { withoutControls } from '../util/printable.js';
import { type Io, processIo } from './io.js';
import { loggerFor } from './log.js';

const TOOL = 'monkeysphere-authentication-keys-for-user';

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  try {
    if (argv.length === 1 && (argv[0] === '-h' || argv[0] === '--help')) {
      io.stdout.write(`usage: ${TOOL} USER\nPrint USER's Monkeysphere authorized_keys (for sshd's AuthorizedKeysCommand).\n`);
      return 0;
    }
    if (argv.length !== 1 || argv[0] === '' || argv[0].startsWith('-')) {
      io.stderr.write(`${TOOL}: error: expected exactly one user name\n${TOOL}: hint: usage: ${TOOL} USER\n`);
      return 2;
    }
    const config = loadAuthConfig(io.env);
    const log = loggerFor(io, config.values.LOG_LEVEL);
    for (const p of config.problems) log.error(`${p.where}${p.line ? `:${p.line}` : ''}: ${p.message}`);
    const keys = await keysForUser(argv[0], config.values, authPaths(io.env), referenceTime(io.env));
    for (const p of keys.problems) log.error(p.message);
    io.stdout.write(keys.content);
    return 0;
  } catch (err) {
    if (err instanceof MsError) {
      io.stderr.write(`${TOOL}: error: ${withoutControls(err.message)}\n`);
      for (const h of err.hints) io.stderr.write(`${TOOL}: hint: ${withoutControls(h)}\n`);
      return err.exitCode;
    }
    io.stderr.write(`${TOOL}: error: internal error: ${withoutControls(errorMessage(err))}\n`);
    if (err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return 70;
  }
}
