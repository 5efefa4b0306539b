/**
 * agent-transfer's command line, parsed exactly as the original's parse_args: single-dash
 * flags that combine (`-ct 60`), `-t` taking the next argument, then a 40-hex-digit
 * keygrip and an optional comment that must not start with "-". Also used for the
 * constraint flags `monkeysphere subkey-to-ssh-agent` passes on. Pure.
 */
import { UsageError } from '../errors.js';

export interface TransferArgs {
  confirm: boolean;
  /** Seconds; undefined for no lifetime. */
  lifetime?: number;
  help: boolean;
  keygrip?: string;
  comment?: string;
}

/** The largest lifetime ssh-agent's uint32 can carry. */
const MAX_LIFETIME = 0xffffffff;

const usage = (message: string) => new UsageError('MS_AGENT_USAGE', message);

/**
 * Parses the arguments; `flagsOnly` refuses positional arguments (subkey-to-ssh-agent
 * supplies the keygrip and comment itself).
 * @throws UsageError (MS_AGENT_USAGE) with the original's messages
 */
export function parseTransferArgs(argv: readonly string[], opts: { flagsOnly?: boolean; extraFlags?: string } = {}): TransferArgs & { extra: string[] } {
  const out: TransferArgs & { extra: string[] } = { confirm: false, help: false, extra: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('-')) {
      let wantsSeconds = false;
      for (const flag of arg.slice(1)) {
        if (flag === 'c') out.confirm = true;
        else if (flag === 't') wantsSeconds = true;
        else if (flag === 'h') out.help = true;
        else if (opts.extraFlags?.includes(flag)) out.extra.push(flag);
        else throw usage(`flag not recognized: ${flag}`);
      }
      if (wantsSeconds) {
        const value = argv[i + 1];
        if (value === undefined) throw usage('lifetime (-t) needs an argument (number of seconds)');
        const seconds = /^\d+$/.test(value) ? Number(value) : 0;
        if (!(seconds > 0)) throw usage(`lifetime (seconds) must be > 0, not ${JSON.stringify(value)}`);
        if (seconds > MAX_LIFETIME) throw usage(`lifetime (seconds) must be at most ${MAX_LIFETIME}, not ${value}`);
        out.lifetime = seconds;
        i++;
      }
    } else if (opts.flagsOnly) {
      throw usage(`unrecognized argument ${arg}`);
    } else if (out.keygrip === undefined) {
      if (!/^[0-9A-Fa-f]{40}$/.test(arg)) throw usage('keygrip must be 40 hexadecimal digits');
      out.keygrip = arg;
    } else if (out.comment === undefined) {
      out.comment = arg;
    } else {
      throw usage(`unrecognized argument ${arg}`);
    }
  }
  return out;
}
