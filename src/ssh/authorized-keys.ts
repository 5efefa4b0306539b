/**
 * authorized_keys lines as sshd reads them (sshd(8) AUTHORIZED_KEYS FILE FORMAT,
 * auth-options.c): `[options] keytype base64 [comment]`, where options are comma
 * separated (empty ones skipped), either a bare flag or `name="value"` with `\"` inside
 * the quotes, and no white space outside quotes. Used to validate what users write
 * before it reaches a file sshd reads: an option line that is really a key, or a line of
 * some other file, must never become an authorized key.
 */
import { SshReader } from './wire.js';

/** Options sshd accepts without a value (OpenSSH 9). */
const FLAG_OPTIONS = new Set([
  'agent-forwarding',
  'cert-authority',
  'no-agent-forwarding',
  'no-port-forwarding',
  'no-pty',
  'no-user-rc',
  'no-x11-forwarding',
  'port-forwarding',
  'pty',
  'user-rc',
  'x11-forwarding',
  'restrict',
  'no-touch-required',
  'touch-required',
  'verify-required',
]);

/** Options sshd accepts only with a quoted value. */
const VALUE_OPTIONS = new Set(['command', 'environment', 'expiry-time', 'from', 'permitlisten', 'permitopen', 'principals', 'tunnel']);

/** Key types sshd accepts in authorized_keys (plain, security keys, certificates). */
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'ssh-ed25519-cert-v01@openssh.com',
  'ssh-rsa-cert-v01@openssh.com',
  'ssh-dss-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'sk-ssh-ed25519-cert-v01@openssh.com',
  'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com',
]);

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Checks an options field. Returns why it is not valid, or undefined when sshd would
 * accept it.
 */
export function optionsProblem(options: string): string | undefined {
  if (options === '') return 'empty options';
  if (CONTROL.test(options)) return 'control character in options';
  let i = 0;
  while (i < options.length) {
    // sshd skips empty options (`no-pty,,pty`, a leading or trailing comma).
    if (options[i] === ',') {
      i++;
      continue;
    }
    const name = /^[A-Za-z0-9-]+/.exec(options.slice(i))?.[0];
    if (!name) return `unexpected ${JSON.stringify(options[i])} in options`;
    const lower = name.toLowerCase();
    i += name.length;
    if (options[i] === '=') {
      if (!VALUE_OPTIONS.has(lower)) return FLAG_OPTIONS.has(lower) ? `option "${name}" takes no value` : `unknown option "${name}"`;
      if (options[i + 1] !== '"') return `option "${name}" needs a quoted value`;
      i += 2;
      for (;;) {
        if (i >= options.length) return `unterminated quotes in option "${name}"`;
        if (options[i] === '\\' && options[i + 1] === '"') i += 2;
        else if (options[i] === '"') break;
        else i++;
      }
      i++;
    } else {
      if (!FLAG_OPTIONS.has(lower)) return VALUE_OPTIONS.has(lower) ? `option "${name}" needs a value` : `unknown option "${name}"`;
    }
    if (i < options.length && options[i] !== ',') return `unexpected ${JSON.stringify(options[i])} after option "${name}"`;
  }
  return undefined;
}

/** Length of the options field at the start of `line`: up to the first blank outside quotes. */
function optionsLength(line: string): number {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && quoted && line[i + 1] === '"') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t')) return i;
  }
  return line.length;
}

export interface AuthorizedKeysLine {
  options: string;
  type: string;
  blob: Buffer;
  comment: string;
}

/** Parses `type base64 [comment]`; the blob must name the same type. */
function keyPart(text: string): { type: string; blob: Buffer; comment: string } | string {
  const m = /^([A-Za-z0-9@.-]+)[ \t]+([A-Za-z0-9+/]+={0,2})(?:[ \t]+(.*))?$/.exec(text);
  if (!m) return 'not a key';
  if (!KEY_TYPES.has(m[1])) return `unknown key type ${JSON.stringify(m[1])}`;
  const blob = Buffer.from(m[2], 'base64');
  if (blob.toString('base64').replace(/=+$/, '') !== m[2].replace(/=+$/, '')) return 'damaged base64';
  try {
    const inner = new SshReader(blob, 'key blob').text();
    if (inner !== m[1]) return `key type ${JSON.stringify(m[1])} does not match its blob (${JSON.stringify(inner)})`;
  } catch {
    return 'damaged key blob';
  }
  return { type: m[1], blob, comment: m[3] ?? '' };
}

/**
 * Parses one authorized_keys line (without its newline). Returns the parts, or why the
 * line is not one sshd would accept as a key.
 */
export function parseAuthorizedKeysLine(line: string): AuthorizedKeysLine | string {
  if (CONTROL.test(line.replace(/\t/g, ' '))) return 'control character in line';
  const text = line.replace(/^[ \t]+/, '');
  const direct = keyPart(text);
  if (typeof direct !== 'string') return { options: '', ...direct };
  const n = optionsLength(text);
  const options = text.slice(0, n);
  const problem = optionsProblem(options);
  if (problem) return KEY_TYPES.has(options) ? direct : problem;
  const rest = keyPart(text.slice(n).replace(/^[ \t]+/, ''));
  return typeof rest === 'string' ? rest : { options, ...rest };
}
