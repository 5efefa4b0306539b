/**
 * monkeysphere: the user's tool (behaviour inventory §1, §2, §4). Host keys for ssh come
 * from the user's own web of trust (their GnuPG keyring, ownertrust and gpg.conf), through
 * known_hosts (`update-known_hosts`, `ssh-proxycommand`) or answered just in time to ssh's
 * KnownHostsCommand; user IDs into authorized_keys; authentication subkeys into ssh-agent.
 * Every subcommand, alias and exit status of 0.43 (failures exit 255), so ssh_config lines,
 * cron jobs and scripts written for it keep working. Per-connection paths load only what
 * they need (the slow paths are imported when taken).
 */
import { mkdirSync } from 'node:fs';
import { referenceTime } from '../clock.js';
import { MsError, NotFoundError, UnsupportedError, UsageError } from '../errors.js';
import type { UidCert } from '../user/home-keys.js';
import { type HostTarget, keysOf, parseHost, proxyChecksKeyserver, updateKnownHosts } from '../user/hosts.js';
import { knownHostsHosts } from '../user/known-hosts.js';
import { readOwnFile } from '../user/key-files.js';
import { loadUserSettings } from '../user/settings.js';
import { UserTool } from '../user/tool.js';
import { type Io, processIo } from './io.js';
import { Logger, parseLevel } from './log.js';
import { reportError } from './run.js';
import { version } from './version.js';

const TOOL = 'monkeysphere';
/** The original's status for every failure. */
const FAILURE = 255;

const USAGE = `usage: monkeysphere <subcommand> [options] [args]
Monkeysphere client tool.

subcommands:
 update-known_hosts (k) [HOST]...    update known_hosts file
   --exit-status                       exit 1 if no key was found, 2 if none was valid
 update-authorized_keys (a)          update authorized_keys file
   --exit-status                       exit 1 if no key was found, 2 if none was valid
 ssh-proxycommand (p) HOST [PORT]    monkeysphere ssh ProxyCommand
   --no-connect                        do not make TCP connection to host
 known-hosts-command HOST [PORT] [REASON]
                                     print HOST's valid keys, for ssh's KnownHostsCommand
 subkey-to-ssh-agent (s)             store authentication subkey in ssh-agent
   -c, -t SECONDS, -d                  confirm each use, set a lifetime, or remove

 keys-for-userid (u) USERID          output valid ssh keys for given user id
 sshfprs-for-userid USERID           output ssh fingerprints for given user id
 gen-subkey (g) [KEYID]              generate an authentication subkey
   --length (-l) BITS                  RSA key length in bits (3072)
   --type (-t) rsa|ed25519             key algorithm (rsa)

 version (v)                         show version number
 help (h,?)                          this help

In ~/.ssh/config, either (OpenSSH 8.5 and later; respects HostKeyAlias and Port):
    KnownHostsCommand /usr/local/bin/monkeysphere known-hosts-command %H %I
or, as with Monkeysphere 0.43:
    ProxyCommand monkeysphere ssh-proxycommand %h %p
(give the path \`command -v monkeysphere\` prints: ssh runs KnownHostsCommand without a
PATH search). %I is why ssh asks: for ORDER (sorting key types, before the real question)
and ADDRESS (CheckHostIP) no keyserver is asked; HOSTNAME asks as ssh-proxycommand does.
If the check itself fails (an unreadable GnuPG home, say), ssh-proxycommand says so and
connects anyway: ssh then judges the host by known_hosts alone.

A host key is valid when the host's certificate carries the user ID ssh://HOST (or
ssh://HOST:PORT for other ports than 22) and your own GnuPG trust makes that user ID
fully valid (validity u or f, as gpg --list-keys shows it): certified by keys you trust
fully, or by enough keys you trust marginally. Certificates are looked up on KEYSERVER
when CHECK_KEYSERVER is true (ssh-proxycommand and known-hosts-command ask only for hosts
neither your keyring nor known_hosts knows) and imported into your GnuPG keyring.

Configuration: /etc/monkeysphere/monkeysphere.conf, then ~/.monkeysphere/monkeysphere.conf
(MONKEYSPHERE_CONFIG), then MONKEYSPHERE_<VAR> in the environment. Variables: GNUPGHOME,
KEYSERVER, CHECK_KEYSERVER, KEYSERVER_TIMEOUT (seconds, default 10), KNOWN_HOSTS,
HASH_KNOWN_HOSTS, AUTHORIZED_KEYS, STRICT_MODES, PROMPT, LOG_LEVEL (SILENT, ERROR, INFO,
VERBOSE, DEBUG). Environment only: MONKEYSPHERE_HOME, MONKEYSPHERE_AUTHORIZED_USER_IDS,
MONKEYSPHERE_SUBKEYS_FOR_AGENT, MONKEYSPHERE_LOG_PREFIX.

Exit status: 0 done, 255 failure (with --exit-status: 1 no key found, 2 none valid).
`;

interface Ctx {
  io: Io;
  tool: UserTool;
  log: Logger;
}

type Handler = (ctx: Ctx, args: string[]) => Promise<number>;

const COMMANDS: Array<{ names: string[]; run: Handler }> = [
  { names: ['update-known_hosts', 'update-known-hosts', 'k'], run: updateKnownHostsCmd },
  { names: ['update-authorized_keys', 'update-authorized-keys', 'a'], run: updateAuthorizedKeysCmd },
  { names: ['import-subkey', 'import', 'i'], run: importSubkey },
  { names: ['gen-subkey', 'g'], run: genSubkeyCmd },
  { names: ['ssh-proxycommand', 'p'], run: sshProxyCommand },
  { names: ['known-hosts-command'], run: knownHostsCommand },
  { names: ['subkey-to-ssh-agent', 's'], run: subkeyToSshAgentCmd },
  { names: ['sshfpr'], run: sshfpr },
  { names: ['keys-for-userid', 'u'], run: keysForUserId },
  { names: ['sshfprs-for-userid'], run: sshfprsForUserId },
  { names: ['keys-from-userid'], run: keysFromUserId },
];

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) {
    io.stderr.write(USAGE);
    io.stderr.write('Please supply a subcommand.\n');
    return FAILURE;
  }
  if (['help', '--help', '-h', 'h', '?'].includes(command)) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (['version', '--version', 'v'].includes(command)) {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  const entry = COMMANDS.find((c) => c.names.includes(command));
  if (!entry) {
    io.stderr.write(`Unknown command: '${command}'\nTry '${TOOL} help' for usage.\n`);
    return FAILURE;
  }
  let tool: UserTool | undefined;
  try {
    const settings = loadUserSettings(io.env);
    const log = new Logger(io, parseLevel(settings.config.LOG_LEVEL), io.env.MONKEYSPHERE_LOG_PREFIX ?? 'ms: ');
    for (const p of settings.problems) log.error(`${p.where}${p.line ? `:${p.line}` : ''}: ${p.message}`);
    // As the original: everything it creates is private to the user.
    if (io.stdout === process.stdout) process.umask(0o077);
    mkdirSync(settings.monkeysphereHome, { recursive: true, mode: 0o700 });
    tool = new UserTool(io.env, settings, log, referenceTime(io.env));
    tool.ensureGnupgHome();
    return await entry.run({ io, tool, log }, args);
  } catch (err) {
    const code = reportError(TOOL, io, err);
    return code === 0 ? 0 : FAILURE;
  } finally {
    await tool?.close();
  }
}

/** Takes `--exit-status` out of the arguments. */
function exitStatusFlag(args: string[]): { rest: string[]; exitStatus: boolean } {
  const rest = args.filter((a) => a !== '--exit-status');
  return { rest, exitStatus: rest.length !== args.length };
}

/** The man page's promise, kept behind --exit-status (0.43 always exits 0): 0 a valid key, 1 no key, 2 keys but none valid. */
function keysStatus(r: { processed: number; valid: number }): number {
  if (r.valid > 0) return 0;
  return r.processed === 0 ? 1 : 2;
}

function noOptions(args: string[], command: string): void {
  const option = args.find((a) => a.startsWith('-') && a !== '-');
  if (option) throw new UsageError('MS_USER_USAGE', `${command}: unknown option '${option}'`, { hints: [`Type '${TOOL} help' for usage.`] });
}

/** CHECK_KEYSERVER for the subcommands whose default is true. */
function checkKeyserver(ctx: Ctx): boolean {
  return ctx.tool.settings.config.CHECK_KEYSERVER;
}

async function updateKnownHostsCmd(ctx: Ctx, args: string[]): Promise<number> {
  const { rest, exitStatus } = exitStatusFlag(args);
  noOptions(rest, 'update-known_hosts');
  const { tool, log } = ctx;
  let targets: HostTarget[];
  if (rest.length > 0) {
    targets = rest.map((h) => parseHost(h));
  } else {
    const path = tool.settings.config.KNOWN_HOSTS;
    const text = readOwnFile(path, { strictModes: tool.settings.config.STRICT_MODES, home: tool.home, what: 'known_hosts file' });
    if (text === undefined) throw new NotFoundError('MS_USER_NO_KNOWN_HOSTS', `known_hosts file '${path}' does not exist.`);
    log.debug('processing known_hosts file:');
    log.debug(` ${path}`);
    targets = [];
    for (const name of knownHostsHosts(text)) {
      try {
        targets.push(parseHost(name));
      } catch {
        log.debug(`skipping '${name}': not a host name`);
      }
    }
    if (targets.length === 0) {
      log.debug('no hosts to process.');
      return exitStatus ? 1 : 0;
    }
  }
  const r = await updateKnownHosts(tool, targets, checkKeyserver(ctx));
  return exitStatus ? keysStatus(r) : 0;
}

async function updateAuthorizedKeysCmd(ctx: Ctx, args: string[]): Promise<number> {
  const { rest, exitStatus } = exitStatusFlag(args);
  noOptions(rest, 'update-authorized_keys');
  const { updateAuthorizedKeys } = await import('../user/authorized.js');
  const r = await updateAuthorizedKeys(ctx.tool, checkKeyserver(ctx));
  return exitStatus ? keysStatus(r) : 0;
}

async function importSubkey(): Promise<number> {
  throw new UnsupportedError('MS_USER_IMPORT_SUBKEY', 'import-subkey is not implemented yet.  We welcome patches.  Sorry!', {
    hints: ['to use an existing OpenSSH key with gpg, see gpg --import-options and pem2openpgp(1); gen-subkey makes a new authentication subkey'],
  });
}

/** The certificates of `userId`, after asking the keyserver when `fetch`. */
async function certsAfterLookup(ctx: Ctx, userId: string, fetch: boolean): Promise<UidCert[]> {
  ctx.log.verbose(`processing: ${userId}`);
  if (fetch) await ctx.tool.fetch([userId]);
  return ctx.tool.certsFor(userId);
}

function oneUserId(args: string[], command: string): string {
  if (args.length !== 1 || args[0] === '') throw new UsageError('MS_USER_USAGE', `${command}: give one user ID`, { hints: [`Type '${TOOL} help' for usage.`] });
  return args[0];
}

async function keysForUserId(ctx: Ctx, args: string[]): Promise<number> {
  const userId = oneUserId(args, 'keys-for-userid');
  const certs = await certsAfterLookup(ctx, userId, checkKeyserver(ctx));
  for (const k of keysOf(certs)) if (k.ok) ctx.io.stdout.write(`${k.ssh}\n`);
  return 0;
}

async function keysFromUserId(ctx: Ctx, args: string[]): Promise<number> {
  ctx.io.stderr.write("Warning: 'keys-from-userid' is deprecated.  Please use 'keys-for-userid' instead.\n");
  return keysForUserId(ctx, args);
}

async function sshfprsForUserId(ctx: Ctx, args: string[]): Promise<number> {
  const { sshFingerprint } = await import('../ssh/public-key.js');
  const userId = oneUserId(args, 'sshfprs-for-userid');
  const certs = await certsAfterLookup(ctx, userId, checkKeyserver(ctx));
  for (const k of keysOf(certs)) if (k.ok) ctx.io.stdout.write(`${sshFingerprint(Buffer.from(k.ssh.split(' ')[1], 'base64'))}\n`);
  return 0;
}

async function sshfpr(ctx: Ctx, args: string[]): Promise<number> {
  ctx.io.stderr.write("Warning: 'sshfpr' is deprecated.  Please use 'sshfprs-for-userid' instead.\n");
  const { sshFingerprintOfKey } = await import('../user/sshfpr.js');
  if (args.length !== 1) throw new UsageError('MS_USER_USAGE', 'sshfpr: give one key ID');
  ctx.io.stdout.write(`${sshFingerprintOfKey(ctx.tool.gnupgHome, ctx.tool.env, args[0])}\n`);
  return 0;
}

/** Warns, as 0.43's ProxyCommand did, when the host has certificates but no valid key. */
async function warnIfNoValidKey(ctx: Ctx, target: HostTarget, r: { processed: number; valid: number }): Promise<void> {
  if (r.processed === 0 || r.valid > 0 || !ctx.log.enabled('INFO')) return;
  ctx.log.debug('output ssh marginal ui...');
  const { noValidKeyWarning } = await import('../user/warning.js');
  const certs = await ctx.tool.certsFor(target.userId);
  const lines = await noValidKeyWarning(target.userId, certs, { env: ctx.tool.env, gnupgHome: ctx.tool.gnupgHome, now: ctx.tool.now, store: await ctx.tool.cacheStore() });
  // As the original: the block has no log prefix.
  const plain = new Logger(ctx.io, 'INFO', '');
  for (const line of lines) plain.info(line);
}

async function sshProxyCommand(ctx: Ctx, args: string[]): Promise<number> {
  let rest = args;
  let connect = true;
  if (rest[0] === '--no-connect') {
    connect = false;
    rest = rest.slice(1);
  }
  if (rest.length === 0 || rest[0] === '') {
    ctx.log.error('Host not specified.');
    ctx.io.stderr.write(USAGE);
    return FAILURE;
  }
  if (rest.length > 2) throw new UsageError('MS_USER_USAGE', 'ssh-proxycommand: too many arguments', { hints: [`Type '${TOOL} help' for usage.`] });
  const target = parseHost(rest[0], rest[1]);
  let checked = true;
  try {
    const r = await updateKnownHosts(ctx.tool, [target], await proxyChecksKeyserver(ctx.tool, target));
    await warnIfNoValidKey(ctx, target, r);
  } catch (err) {
    if (!(err instanceof MsError) || err instanceof UsageError) throw err;
    // As 0.43: a check that cannot be made adds no key, and ssh still gets its connection
    // (and judges the host by known_hosts alone); an ssh that cannot connect helps no one.
    reportError(TOOL, ctx.io, err);
    ctx.log.error(`${target.userId} was not checked; connecting without Monkeysphere's host keys`);
    checked = false;
  }
  if (!connect) return checked ? 0 : FAILURE;
  await ctx.tool.close();
  const { relay } = await import('../user/relay.js');
  try {
    await relay(target.host, target.port, ctx.io.stdin, ctx.io.stdout as NodeJS.WritableStream);
  } finally {
    ctx.io.stdin.destroy();
  }
  return 0;
}

/** ssh's %I: why it runs KnownHostsCommand. */
const KNOWN_HOSTS_REASONS = new Set(['HOSTNAME', 'ADDRESS', 'ORDER']);

async function knownHostsCommand(ctx: Ctx, args: string[]): Promise<number> {
  const hasReason = args.length > 1 && KNOWN_HOSTS_REASONS.has(args[args.length - 1]);
  const reason = hasReason ? args[args.length - 1] : 'HOSTNAME';
  const hostArgs = hasReason ? args.slice(0, -1) : args;
  if (hostArgs.length === 0 || hostArgs.length > 2) {
    throw new UsageError('MS_USER_USAGE', 'known-hosts-command: give the host as ssh names it (%H), optionally a port, then why ssh asks (%I)', { hints: [`Type '${TOOL} help' for usage.`] });
  }
  // Host keys are certified for names, not addresses (CheckHostIP's lookup).
  if (reason === 'ADDRESS') return 0;
  const target = parseHost(hostArgs[0], hostArgs[1]);
  // ORDER comes first, with the bare name even for another port: never worth a keyserver round trip.
  if (reason === 'HOSTNAME' && (await proxyChecksKeyserver(ctx.tool, target))) await ctx.tool.fetch([target.userId]);
  const certs = await ctx.tool.certsFor(target.userId);
  const keys = keysOf(certs);
  const written = new Set<string>();
  for (const k of keys) {
    if (!k.ok || written.has(k.ssh)) continue;
    written.add(k.ssh);
    ctx.io.stdout.write(`${target.knownHostsName} ${k.ssh}\n`);
  }
  await warnIfNoValidKey(ctx, target, { processed: keys.length, valid: written.size });
  return 0;
}

/** Parses gen-subkey's options: -l/--length BITS, -t/--type rsa|ed25519, then at most one key ID. */
async function genSubkeyCmd(ctx: Ctx, args: string[]): Promise<number> {
  let length: number | undefined;
  let type: 'rsa' | 'ed25519' | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-l' || a === '--length') {
      const v = args[++i] ?? '';
      if (!/^\d+$/.test(v)) throw new UsageError('MS_USER_USAGE', `gen-subkey: ${a} needs a number of bits, not ${JSON.stringify(v)}`);
      length = Number(v);
    } else if (a === '-t' || a === '--type') {
      const v = (args[++i] ?? '').toLowerCase();
      if (v !== 'rsa' && v !== 'ed25519') throw new UsageError('MS_USER_USAGE', `gen-subkey: ${a} takes rsa or ed25519, not ${JSON.stringify(v)}`);
      type = v;
    } else if (a.startsWith('-') && rest.length === 0) {
      throw new UsageError('MS_USER_USAGE', `Unknown option '${a}'.`, { hints: [`Type '${TOOL} help' for usage.`] });
    } else rest.push(a);
  }
  if (rest.length > 1) throw new UsageError('MS_USER_USAGE', 'You must specify only a single primary key ID.');
  if (type === 'ed25519' && length !== undefined) throw new UsageError('MS_USER_USAGE', 'gen-subkey: --length applies to RSA keys only');
  const { genSubkey } = await import('../user/subkeys.js');
  return genSubkey(await subkeyContext(ctx), { keyId: rest[0], length, type: type ?? 'rsa' });
}

async function subkeyToSshAgentCmd(ctx: Ctx, args: string[]): Promise<number> {
  const { subkeyToSshAgent } = await import('../user/subkeys.js');
  return subkeyToSshAgent(await subkeyContext(ctx), args);
}

async function subkeyContext(ctx: Ctx) {
  const { tool } = ctx;
  const { stdinAsker } = await import('./prompt.js');
  return { env: tool.env as NodeJS.ProcessEnv, gnupgHome: tool.gnupgHome, log: ctx.log, prompt: tool.settings.config.PROMPT, asker: stdinAsker(ctx.io.stdin, ctx.io.stderr), now: tool.now };
}
