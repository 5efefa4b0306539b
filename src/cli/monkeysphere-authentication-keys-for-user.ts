/**
 * monkeysphere-authentication-keys-for-user USER: prints USER's authorized_keys, for
 * sshd_config's `AuthorizedKeysCommand /usr/local/bin/monkeysphere-authentication-keys-for-user %u %f`
 * (as `AuthorizedKeysCommandUser monkeysphere`, reading the store without writing it).
 * The login path: lean imports (no commander, no keyserver code), no network, the
 * answer read from the precomputed bindings in the store.
 * Exit codes: 0 keys printed (possibly none), 2 usage, 3 unknown user, 4 store missing or
 * unreadable, 70 bug. sshd ignores the output of a failed command.
 */
import { errorMessage, MsError } from '../errors.js';
import { authPaths, loadAuthConfig } from '../auth/config.js';
import { referenceTime } from '../clock.js';
import { keysForLogin, keysForUser } from '../auth/keys-for-user.js';
import { loginLog, parseOfferedKey } from '../auth/login.js';
import { withoutControls } from '../util/printable.js';
import { type Io, processIo } from './io.js';
import { loggerFor } from './log.js';

const TOOL = 'monkeysphere-authentication-keys-for-user';

const USAGE = `usage: ${TOOL} USER [%f | %t %k]
Prints USER's Monkeysphere authorized_keys, for sshd_config:

  AuthorizedKeysCommand /usr/local/bin/${TOOL} %u %f
  AuthorizedKeysCommandUser monkeysphere

Given the offered key (sshd's %f, or %t %k), it also logs the decision in one line
(LOGIN_LOG: syslog:authpriv.info by default, stderr, file:PATH or none): the user ID,
certificate and certifier that grant the key, or why nothing does; and, when
LOGIN_KEYSERVER_TIMEOUT is set (seconds), looks the account's user IDs up on the
keyserver within that bound when the key is not granted, and refreshes a granting
certificate older than REFRESH_MAX_AGE seconds. Exit status: 0 keys printed (maybe
none), 2 usage, 3 unknown user, 4 store missing or unreadable, 70 bug; sshd accepts
no key from a command that fails.
`;

/** The keyserver client, loaded only when a login needs it. */
async function loginKeyserver(servers: string, timeoutMs: number) {
  const { KeyserverClient } = await import('../keyserver/client.js');
  // A login evaluates what arrives: answers larger than LOGIN_MAX_ANSWER (a flooded
  // certificate) are refused, so the work after the fetch stays small too; update-users
  // fetches and trims such certificates.
  return new KeyserverClient({ servers: servers.split(/[\s,]+/).filter((s) => s !== ''), timeoutMs, deadlineMs: timeoutMs, maxResponseBytes: LOGIN_MAX_ANSWER });
}

/** The largest keyserver answer a login takes (bytes): ordinary certificates are a few KiB. */
const LOGIN_MAX_ANSWER = 256 * 1024;

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  try {
    if (argv.length === 1 && (argv[0] === '-h' || argv[0] === '--help')) {
      io.stdout.write(USAGE);
      return 0;
    }
    const offered = parseOfferedKey(argv.slice(1));
    if (argv.length === 0 || argv[0] === '' || argv[0].startsWith('-') || typeof offered === 'string') {
      io.stderr.write(`${TOOL}: error: ${typeof offered === 'string' ? offered : 'expected a user name'}\n${TOOL}: hint: usage: ${TOOL} USER [%f | %t %k]\n`);
      return 2;
    }
    const config = loadAuthConfig(io.env);
    const log = loggerFor(io, config.values.LOG_LEVEL);
    for (const p of config.problems) log.error(`${p.where}${p.line ? `:${p.line}` : ''}: ${p.message}`);
    const now = referenceTime(io.env);
    if (offered === undefined) {
      const explain = log.enabled('VERBOSE') ? (lines: string[]) => {
            for (const l of lines) log.verbose(l);
          } : undefined;
      const keys = await keysForUser(argv[0], config.values, authPaths(io.env), now, { explain });
      for (const p of keys.problems) log.error(p.message);
      io.stdout.write(keys.content);
      return 0;
    }
    const loginLogLine = loginLog(config.values.LOGIN_LOG, io.stderr, 'monkeysphere-authentication');
    try {
      const { keys, decision } = await keysForLogin(argv[0], config.values, authPaths(io.env), now, {
        offered,
        keyserverTimeoutMs: config.values.LOGIN_KEYSERVER_TIMEOUT * 1000,
        refreshMaxAge: config.values.REFRESH_MAX_AGE,
        keyserver: () => loginKeyserver(config.values.KEYSERVER, config.values.LOGIN_KEYSERVER_TIMEOUT * 1000),
      });
      for (const p of keys.problems) log.error(p.message);
      for (const n of decision.notes) log.verbose(n);
      // The account's unreadable or refused files are the usual reason for a refusal: say so in the one line.
      const notes = [...keys.problems.map((p) => p.message), ...decision.notes];
      loginLogLine(`${decision.accepted ? 'accepted' : 'refused'} ${offered.fingerprint} for ${JSON.stringify(argv[0])}: ${decision.why}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`);
      io.stdout.write(keys.content);
      return 0;
    } catch (err) {
      loginLogLine(`refused ${offered.fingerprint} for ${JSON.stringify(argv[0])}: ${withoutControls(errorMessage(err))}`);
      throw err;
    }
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
