/**
 * agent-transfer: copies one secret key from gpg-agent into ssh-agent (the original's
 * C tool, behaviour inventory §1 and §4): `agent-transfer [-c] [-t SECONDS] [-h] KEYGRIP
 * [COMMENT]`, the original's options, messages and exit status (0, or 1 for every
 * failure; `-h` prints the help on stdout). The work is src/agent/transfer.ts.
 */
import { UsageError } from '../errors.js';
import { transferKey } from '../agent/transfer.js';
import { parseTransferArgs } from '../agent/transfer-args.js';
import { type Io, processIo } from './io.js';
import { reportError } from './run.js';

const TOOL = 'agent-transfer';
/** The original's status for every failure. */
const FAILURE = 1;

export const USAGE = `Usage: agent-transfer [options] KEYGRIP [COMMENT]

Extracts a secret key from the GnuPG agent (by keygrip),
and sends it to the running SSH agent.

  KEYGRIP should be a GnuPG keygrip
    (e.g. try "gpg --with-keygrip --list-secret-keys")
  COMMENT (optional) can be any string
    (must not start with a "-")

Options:
 -t SECONDS  lifetime (in seconds) for the key to live in ssh-agent
 -c          require confirmation when using the key in ssh-agent
 -h          print this help
`;

const HELP = `${USAGE}
Flags combine (-ct 3600). KEYGRIP is the 40 hexadecimal digits gpg shows in its
"Keygrip = …" lines (gpg --with-keygrip --list-secret-keys). Without COMMENT the key
is stored as "GnuPG keygrip KEYGRIP".

gpg-agent asks for the key's passphrase through its pinentry, which is told about
the terminal (stdin, else GPG_TTY), TERM, DISPLAY, XAUTHORITY, GTK_IM_MODULE,
DBUS_SESSION_BUS_ADDRESS and LANG. The key goes from gpg-agent to ssh-agent in
memory only; nothing is written to disk. RSA, Ed25519 and ECDSA (NIST P-256,
P-384, P-521) keys can be transferred.

With -c, ssh-agent asks for confirmation (through ssh-askpass) each time the key
is used; an agent that cannot ask refuses the key. With -t, ssh-agent forgets the
key after SECONDS.

Environment:
  SSH_AUTH_SOCK  the ssh-agent to send the key to (required)
  GNUPGHOME      the GnuPG home whose gpg-agent holds the key (default ~/.gnupg);
                 gpg-agent is started (gpgconf --launch gpg-agent) if not running

Exit status: 0 when ssh-agent accepted the key, 1 otherwise.
See agent-transfer(1), monkeysphere(1) subkey-to-ssh-agent, ssh-add(1).
`;

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  if (argv.length === 1 && argv[0] === '--help') {
    io.stdout.write(HELP);
    return 0;
  }
  try {
    const args = parseTransferArgs(argv);
    if (args.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (args.keygrip === undefined) throw new UsageError('MS_AGENT_USAGE', 'a keygrip is required');
    await transferKey({
      env: io.env,
      keygrip: args.keygrip,
      comment: args.comment,
      confirm: args.confirm,
      lifetime: args.lifetime,
      notice: (message) => io.stderr.write(`${TOOL}: ${message}\n`),
    });
    return 0;
  } catch (err) {
    reportError(TOOL, io, err);
    if (err instanceof UsageError) io.stderr.write(USAGE);
    return FAILURE;
  }
}

