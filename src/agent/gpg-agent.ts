/**
 * Reaching gpg-agent: its socket from gpgconf, launching it when nobody listens (as the
 * original agent-transfer), the pinentry's OPTION lines, and which keygrips it holds
 * secret keys for. Over the Assuan client (assuan.ts); the key export is key-export.ts.
 */
import { execFile } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { isatty } from 'node:tty';
import { EnvironmentError, errorMessage } from '../errors.js';
import { AssuanClient, assuanErrorData, percentDecode } from './assuan.js';
import { connectUnix } from './socket-reader.js';

export interface GpgAgentOptions {
  env: NodeJS.ProcessEnv;
  /** The GnuPG home (gpgconf --homedir); without it gpgconf follows GNUPGHOME, else ~/.gnupg. */
  homedir?: string;
  /** Progress the original printed on stderr ("could not find gpg-agent, trying to launch it..."). */
  notice?: (message: string) => void;
  /** Per-answer limit for commands that need no person, in ms (default 30 s). */
  timeoutMs?: number;
}

function gpgconf(opts: GpgAgentOptions, args: string[]): Promise<string> {
  const home = opts.homedir ? ['--homedir', opts.homedir] : [];
  return new Promise((resolve, reject) => {
    execFile('gpgconf', [...home, ...args], { env: { ...opts.env, LC_ALL: 'C' }, timeout: 30_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr).trim() }));
      else resolve(String(stdout));
    });
  });
}

/**
 * The path of gpg-agent's socket, as `gpgconf --list-dirs agent-socket` gives it (percent-escaped).
 * @throws EnvironmentError (MS_AGENT_GPG_AGENT_UNAVAILABLE) when gpgconf cannot run
 */
export async function gpgAgentSocket(opts: GpgAgentOptions): Promise<string> {
  let out: string;
  try {
    out = await gpgconf(opts, ['--list-dirs', 'agent-socket']);
  } catch (err) {
    throw new EnvironmentError('MS_AGENT_GPG_AGENT_UNAVAILABLE', `cannot find gpg-agent's socket: gpgconf --list-dirs failed: ${errorMessage(err)}`, {
      cause: err,
      hints: ['install GnuPG 2.1 or later (gpgconf, gpg-agent)'],
    });
  }
  const path = percentDecode(Buffer.from(out.trimEnd(), 'utf8')).toString('utf8');
  if (!path) throw new EnvironmentError('MS_AGENT_GPG_AGENT_UNAVAILABLE', 'gpgconf --list-dirs gave no agent-socket');
  return path;
}

const NOBODY_LISTENING = new Set(['ENOENT', 'ECONNREFUSED']);

/**
 * A connection to gpg-agent, launched with `gpgconf --launch gpg-agent` if nobody listens
 * on its socket (the original's way, and its wording).
 * @throws EnvironmentError (MS_AGENT_GPG_AGENT_UNAVAILABLE)
 */
export async function connectGpgAgent(opts: GpgAgentOptions): Promise<AssuanClient> {
  const path = await gpgAgentSocket(opts);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const open = async () => {
    const client = new AssuanClient(await connectUnix(path, 'gpg-agent', timeoutMs), 'gpg-agent', timeoutMs);
    try {
      await client.greeting();
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  };
  try {
    return await open();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!code || !NOBODY_LISTENING.has(code)) {
      throw new EnvironmentError('MS_AGENT_GPG_AGENT_UNAVAILABLE', `failed to connect to gpg-agent socket ${path} (${errorMessage(err)})`, { cause: err });
    }
  }
  opts.notice?.('could not find gpg-agent, trying to launch it...');
  try {
    await gpgconf(opts, ['--launch', 'gpg-agent']);
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr || errorMessage(err);
    throw new EnvironmentError('MS_AGENT_GPG_AGENT_UNAVAILABLE', `failed to launch gpg-agent: ${detail}`, { cause: err });
  }
  try {
    return await open();
  } catch (err) {
    throw new EnvironmentError('MS_AGENT_GPG_AGENT_UNAVAILABLE', `failed to connect to gpg-agent after launching (${errorMessage(err)})`, { cause: err });
  }
}

/** The terminal on our standard input, as ttyname(0) gives it. */
function stdinTtyName(): string | undefined {
  try {
    return isatty(0) ? readlinkSync('/proc/self/fd/0') : undefined;
  } catch {
    // No /proc (not Linux): GPG_TTY is the fallback, as for the original when ttyname fails.
    return undefined;
  }
}

/**
 * Tells gpg-agent where and how to show its pinentry, as the original agent-transfer did:
 * ttyname (stdin's terminal, else GPG_TTY), ttytype (TERM), display, xauthority,
 * GTK_IM_MODULE and DBUS_SESSION_BUS_ADDRESS, lc-ctype and lc-messages (LANG), each only
 * when set. A refused option is reported through `notice` and skipped, as the original.
 */
export async function sendPinentryOptions(agent: AssuanClient, env: NodeJS.ProcessEnv, notice?: (m: string) => void, ttyName = stdinTtyName()): Promise<void> {
  const options: Array<[string, string | undefined, string | undefined]> = [
    ['GPG_TTY', ttyName ?? env.GPG_TTY, 'ttyname'],
    ['TERM', env.TERM, 'ttytype'],
    ['DISPLAY', env.DISPLAY, 'display'],
    ['XAUTHORITY', env.XAUTHORITY, 'xauthority'],
    ['GTK_IM_MODULE', env.GTK_IM_MODULE, undefined],
    ['DBUS_SESSION_BUS_ADDRESS', env.DBUS_SESSION_BUS_ADDRESS, undefined],
    ['LANG', env.LANG, 'lc-ctype'],
    ['LANG', env.LANG, 'lc-messages'],
  ];
  for (const [name, value, option] of options) {
    if (!value || /[\r\n]/.test(value)) continue;
    try {
      await agent.transact(option ? `OPTION ${option}=${value}` : `OPTION putenv=${name}=${value}`);
    } catch (err) {
      notice?.(`failed to set ${option ?? name} (${assuanErrorData(err)?.gpgText ?? errorMessage(err)})`);
    }
  }
}

/** Kinds of secret key KEYINFO reports: on disk (D) or on a smartcard (T). */
export type SecretKeyKind = 'disk' | 'card';

/**
 * The keygrips gpg-agent holds secret keys for, from `KEYINFO --list` (one round trip
 * for a whole keyring), or, from an agent without it, by asking `HAVEKEY <grip>` for each
 * of `candidates` (reported as on disk).
 */
export async function secretKeygrips(agent: AssuanClient, candidates: Iterable<string>): Promise<Map<string, SecretKeyKind>> {
  const held = new Map<string, SecretKeyKind>();
  try {
    await agent.transact('KEYINFO --list', {
      maxData: 0,
      status: (keyword, args) => {
        if (keyword !== 'KEYINFO') return;
        const [grip, type] = args.split(' ');
        if (/^[0-9A-F]{40}$/i.test(grip) && (type === 'D' || type === 'T')) held.set(grip.toUpperCase(), type === 'T' ? 'card' : 'disk');
      },
    });
    return held;
  } catch (err) {
    if (!assuanErrorData(err)) throw err;
  }
  for (const grip of new Set(candidates)) if (await haveSecretKey(agent, grip)) held.set(grip, 'disk');
  return held;
}

/** Whether gpg-agent holds the secret key of `grip` (HAVEKEY). */
export async function haveSecretKey(agent: AssuanClient, grip: string): Promise<boolean> {
  try {
    await agent.transact(`HAVEKEY ${grip}`);
    return true;
  } catch (err) {
    if (assuanErrorData(err)) return false;
    throw err;
  }
}
