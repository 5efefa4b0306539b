
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { lookupAccounts } from '../auth/accounts.js';
import { COMMON_VARS, configFiles, type LoadedConfig, loadConfig, type Schema } from '../config/index.js';
import { parseTime, referenceTime } from '../clock.js';
import { MsError, NotFoundError, UsageError } from '../errors.js';
import { withLock } from '../files/lock.js';
import { diagnose } from '../host/diagnostics.js';
import {
  addRevoker,
  addServiceName,
  evaluateHostCert,
  MENU_REASONS,
  defaultRevocationText,
  revocationSignature,
  revokeServiceName,
  setExpiry,
  withRevocation,
} from '../host/operations.js';
import { EXPIRE_HELP, parseExpire } from '../host/expire.js';
import { planImport } from '../host/import-key.js';
import { checkSameKey, notBefore, readX509 } from '../host/x509.js';
import { type HostKeyserver, hostKeyserver } from '../host/keyserver.js';
import { checkNameAddable, checkNameRevocable } from '../host/names.js';
import { defaultHostname, sshdHostKeys } from '../host/probes.js';
import { publishHostKeys } from '../host/publish.js';
import { fetchRevoker, parseRevokerId, revokerFromBytes, revokerIdText } from '../host/revoker.js';
import { parseServiceName, readServices } from '../host/service-name.js';
import type { Account } from '../host/unprivileged.js';
import { showKeyLines } from '../host/show.js';
import { type HostKey, HostKeyStore, hostPaths, minimalPublicCert } from '../host/store.js';
import { loadPrivateKeyWithPassphrase, oldFormat } from '../keytrans/index.js';
import { armor } from '../openpgp/armor.js';
import type { Cert } from '../openpgp/cert.js';
import { printable } from '../util/printable.js';
import { type Io, processIo, readAll } from './io.js';
import { type Logger, loggerFor } from './log.js';
import { type Asker, askPassphraseOnTty, confirm, stdinAsker } from './prompt.js';
import { runCommand } from './run.js';
import { version } from './version.js';

const TOOL = 'monkeysphere-host';

/** The variables of monkeysphere-host.conf (env MONKEYSPHERE_<VAR> overrides each). */
export const HOST_VARS = {
  LOG_LEVEL: COMMON_VARS.LOG_LEVEL,
  KEYSERVER: COMMON_VARS.KEYSERVER,
  CHECK_KEYSERVER: COMMON_VARS.CHECK_KEYSERVER,
  MONKEYSPHERE_USER: COMMON_VARS.MONKEYSPHERE_USER,
  PROMPT: COMMON_VARS.PROMPT,
} as const satisfies Schema;

export type HostConfig = LoadedConfig<typeof HOST_VARS>;

export type { HostKeyserver };

/** What the outside world is, injectable for tests. */
export interface HostDeps {
  /** The reference time, Unix seconds (default: MONKEYSPHERE_TEST_NOW, else the clock). */
  now?: () => number;
  /** This host's fully qualified name (default: `hostname -f`). */
  hostname?: () => string;
  /** The command printing sshd's effective configuration (default: sshd -T). */
  sshdCommand?: string[];
  /** services(5) database for default ports (default /etc/services). */
  servicesFile?: string;
  keyserver?: (servers: string[]) => HostKeyserver;
  userExists?: (name: string) => Promise<boolean>;
  /** Account lookup for MONKEYSPHERE_USER (default: getent passwd). */
  lookupAccount?: (name: string) => Promise<Account | undefined>;
}

interface Ctx {
  io: Io;
  config: HostConfig['values'];
  log: Logger;
  store: HostKeyStore;
  now: () => number;
  asker: Asker;
  deps: HostDeps;
}

const USAGE = `usage: monkeysphere-host <subcommand> [options] [args]
Monkeysphere host admin tool.

subcommands:
 import-key (i) FILE SERVICENAME       import PEM-encoded key from file
 show-keys (s) [KEYID ...]             output host key information
 publish-keys (p) [KEYID ...]          publish key(s) to keyserver
 set-expire (e) EXPIRE [KEYID]         set key expiration
 add-servicename (n+) SERVICENAME [KEYID]
                                       add a service name (user ID) to key
 revoke-servicename (n-) SERVICENAME [KEYID]
                                       revoke a service name (user ID) from key
 add-revoker (r+) REVOKER_KEYID|FILE [KEYID]
                                       add a revoker to key
 revoke-key [KEYID]                    generate and/or publish revocation
                                       certificate for key
 migrate [--dry-run]                   import the host keys of Monkeysphere 0.43
                                       (done by any subcommand on first use; the
                                       0.43 keyring stays as it is)

 version (v)                           show version number
 help (h,?)                            this help

See monkeysphere-host(8) for more info.
`;

function sub(name: string, io: Io): Command {
  return new Command(`${TOOL} ${name}`)
    .exitOverride()
    // commander's own error lines are not printed: main() turns them into ours, in the `TOOL: error:` form, once.
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => undefined })
    .allowExcessArguments(false);
}

function print(io: Io, lines: string[]): void {
  for (const l of lines) io.stdout.write(`${l}\n`);
}

async function show(ctx: Ctx, key: HostKey): Promise<void> {
  print(ctx.io, showKeyLines(await evaluateHostCert(key.cert, ctx.now())));
}

/** The keyserver client (src/host/keyserver.ts), or the test double. */
async function keyserverFor(ctx: Ctx): Promise<HostKeyserver> {
  const servers = [ctx.config.KEYSERVER];
  if (ctx.deps.keyserver) return ctx.deps.keyserver(servers);
  return hostKeyserver({
    servers,
    monkeysphereUser: ctx.config.MONKEYSPHERE_USER,
    lookupAccount: ctx.deps.lookupAccount ?? lookupAccount,
    debug: (m) => ctx.log.debug(m),
  });
}

async function lookupAccount(name: string): Promise<Account | undefined> {
  return (await lookupAccounts([name])).get(name);
}

/** Reads FILE, or stdin for `-`; relative paths are from the command's working directory. */
async function readInput(ctx: Ctx, file: string): Promise<Buffer> {
  if (file === '-') return readAll(ctx.io.stdin);
  const path = isAbsolute(file) ? file : join(ctx.io.cwd, file);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new NotFoundError('MS_HOST_FILE', `cannot read ${JSON.stringify(file)}: ${(err as Error).message}`, { cause: err });
  }
}

// ---- subcommands ---------------------------------------------------------------

async function importKey(ctx: Ctx, args: string[]): Promise<number> {
  const cmd = sub('import-key', ctx.io)
    .description('Import a host key (PEM, PKCS#8, SEC1 or OpenSSH private key, or an OpenPGP secret key) with a service name.')
    .argument('<file>', "the key file, or '-' for stdin")
    .argument('<servicename>', 'e.g. ssh://host.example.org')
    .option('--passphrase-file <file>', 'first line of FILE is the key passphrase (also: MONKEYSPHERE_PASSPHRASE_FILE)')
    .option('--certificate <file>', "the key's X.509 certificate (PEM or DER): its notBefore becomes the key's creation time, so the fingerprint can be made again")
    .option('--key-time <time>', "the key's creation time (Unix seconds or ISO 8601); default now");
  cmd.parse(args, { from: 'user' });
  const [file, name] = cmd.args;
  const opts = cmd.opts<{ passphraseFile?: string; certificate?: string; keyTime?: string }>();
  parseServiceName(name, readServices(ctx.deps.servicesFile));
  const data = await readInput(ctx, file);
  const source = file === '-' ? 'standard input' : file;
  const x509 = opts.certificate === undefined ? undefined : readX509(await readInput(ctx, opts.certificate), opts.certificate);
  let keyTime = x509 ? notBefore(x509) : undefined;
  if (opts.keyTime !== undefined) {
    keyTime = parseTime(opts.keyTime);
    if (keyTime === undefined) throw new UsageError('MS_HOST_KEY_TIME', `--key-time ${JSON.stringify(opts.keyTime)} is not a time`, { hints: ['give Unix seconds or ISO 8601, e.g. 2023-01-15T00:00:00Z'] });
  }
  return locked(ctx, async () => {
    const { cert, nameInUse: inUse } = await planImport(ctx.store, {
      data,
      serviceName: name,
      now: ctx.now(),
      keyTime,
      loadPrivateKey: async () => {
        const loaded = await loadPrivateKeyWithPassphrase(data, source, {
          file: opts.passphraseFile,
          envFile: ctx.io.env.MONKEYSPHERE_PASSPHRASE_FILE || undefined,
          ask: ctx.config.PROMPT && ctx.io.stderr.isTTY ? askPassphraseOnTty : undefined,
        });
        if (x509 && opts.certificate) checkSameKey(x509, loaded.publicKey, opts.certificate);
        return loaded;
      },
    });
    if (inUse.length > 0) {
      if (ctx.config.PROMPT) {
        const ok = await confirm(ctx.asker, `A host key already exists with the service name '${name}' (${inUse.join(', ')}).\nAre you sure you want to import another key with this name?`, false);
        if (!ok) {
          ctx.log.error('Host key not imported.');
          return 1;
        }
      } else ctx.log.info(`another host key (${inUse.join(', ')}) already has the service name '${name}'; importing anyway`);
    }
    const saved = ctx.store.save(cert);
    ctx.log.info('Host key imported:');
    await show(ctx, saved);
    return 0;
  });
}

async function showKeys(ctx: Ctx, args: string[]): Promise<number> {
  const cmd = sub('show-keys', ctx.io).argument('[keyid...]', 'key IDs (fingerprint suffixes); default all').option('--all', 'every host key');
  cmd.parse(args, { from: 'user' });
  const keys = ctx.store.selectMany(cmd.args, cmd.opts<{ all?: boolean }>().all);
  for (const [i, k] of keys.entries()) {
    if (i > 0) ctx.io.stdout.write('\n');
    await show(ctx, k);
  }
  return 0;
}

async function setExpire(ctx: Ctx, args: string[]): Promise<number> {
  const cmd = sub('set-expire', ctx.io).argument('[expire]', '0, <n>, <n>w, <n>m or <n>y').argument('[keyid]', 'which host key');
  cmd.parse(args, { from: 'user' });
  const [spec, keyId] = cmd.args;
  if (spec === undefined) {
    const [first, ...possibilities] = EXPIRE_HELP.split('\n');
    throw new UsageError('MS_HOST_EXPIRE', first.replace(/\s+The possibilities are:$/, ''), { hints: ['the possibilities are:', ...possibilities.map((l) => l.trim())] });
  }
  return locked(ctx, async () => {
    const key = ctx.store.select(keyId);
    const now = ctx.now();
    const expiresAt = parseExpire(spec, now);
    if (ctx.config.PROMPT && !(await confirm(ctx.asker, `Are you sure you want to change the expiration on key '${key.fpr}' to '${spec}'?`, true))) {
      ctx.log.error('expiration change canceled!');
      return 1;
    }
    return saveEdited(ctx, await setExpiry(key.cert, expiresAt, now), 'Key expiration date adjusted, but key must be re-published');
  });
}

/** Runs `body` holding the host key store's lock. */
function locked<T>(ctx: Ctx, body: () => Promise<T>): Promise<T> {
  return withLock(() => ctx.store.lock(), body);
}

/** Saves an edited certificate, shows it, and prints the original's reminder, e.g. "Revoker added, but key must be re-published". */
async function saveEdited(ctx: Ctx, cert: Cert, note: string): Promise<number> {
  await show(ctx, ctx.store.save(cert));
  ctx.io.stdout.write(`\nNOTE: ${note} to public keyserver.\n`);
  return 0;
}

async function addName(ctx: Ctx, args: string[]): Promise<number> {
  const cmd = sub('add-servicename', ctx.io).argument('<servicename>', 'e.g. ssh://host.example.org').argument('[keyid]', 'which host key');
  cmd.parse(args, { from: 'user' });
  const [name, keyId] = cmd.args;
  return locked(ctx, async () => {
    const key = ctx.store.select(keyId);
    const now = ctx.now();
    await checkNameAddable(key, name, now);
    parseServiceName(name, readServices(ctx.deps.servicesFile));
    if (
      ctx.config.PROMPT &&
      !(await confirm(ctx.asker, `The following service name will be added to key '${key.fpr}':\n  ${name}\nAre you sure you would like to add this service name?`, true))
    ) {
      ctx.log.error('Service name not added.');
      return 1;
    }
    return saveEdited(ctx, await addServiceName(key.cert, name, now), 'Service name added to key, but key must be re-published');
  });
}

async function revokeName(ctx: Ctx, args: string[]): Promise<number> {
  const cmd = sub('revoke-servicename', ctx.io).argument('<servicename>', 'the service name to revoke').argument('[keyid]', 'which host key');
  cmd.parse(args, { from: 'user' });
  const [name, keyId] = cmd.args;
  return locked(ctx, async () => {
    const key = ctx.store.select(keyId);
    const now = ctx.now();
    await checkNameRevocable(key, name, now);
    if (
      ctx.config.PROMPT &&
      !(await confirm(ctx.asker, `The following service name on key '${key.fpr}' will be revoked:\n  ${name}\nAre you sure you would like to revoke this service name?`, true))
    ) {
      ctx.log.error('Service name not revoked.');
      return 1;
    }
    return saveEdited(ctx, await revokeServiceName(key.cert, name, now), 'Service name revoked, but revocation must be re-published');
  });
}

/** The revoker's certificate: from a file or stdin (exactly one key), or fetched from the keyserver by key ID. */
async function loadRevoker(ctx: Ctx, spec: string): Promise<{ cert: Cert; fromKeyserver: boolean }> {
  const path = spec === '-' || isAbsolute(spec) ? spec : join(ctx.io.cwd, spec);
  if (spec === '-' || existsSync(path)) {
    ctx.log.verbose(spec === '-' ? 'reading key from stdin...' : `reading key from file '${spec}'...`);
    return { cert: revokerFromBytes(await readInput(ctx, spec), spec === '-' ? 'standard input' : `file '${spec}'`), fromKeyserver: false };
  }
  const id = parseRevokerId(spec);
  ctx.log.verbose(`searching keyserver ${ctx.config.KEYSERVER} for revoker keyID ${revokerIdText(id)}...`);
  return { cert: await fetchRevoker(await keyserverFor(ctx), id, ctx.config.KEYSERVER), fromKeyserver: true };
}

async function addRevokerCmd(ctx: Ctx, args: string[]): Promise<number> {
  const cmd = sub('add-revoker', ctx.io).argument('<revoker>', "revoker key ID, or a file holding its key, or '-' for stdin").argument('[keyid]', 'which host key');
  cmd.parse(args, { from: 'user' });
  const [spec, keyId] = cmd.args;
  const key = ctx.store.select(keyId);
  const { cert: revoker, fromKeyserver } = await loadRevoker(ctx, spec);
  if (fromKeyserver) {
    print(ctx.io, [`pub   ${revoker.primary.fpr}`, ...revoker.users.filter((u) => u.kind === 'userid').map((u) => `uid   ${printable(u.text)}`)]);
    if (ctx.config.PROMPT && !(await confirm(ctx.asker, `Are you sure you want to add the above key as a revoker\nof the key '${key.fpr}'?`, true))) {
      ctx.log.error('revoker not added.');
      return 1;
    }
  }
  return locked(ctx, async () => {
    const current = ctx.store.select(key.fpr);
    return saveEdited(ctx, await addRevoker(current.cert, revoker.primary, ctx.now()), 'Revoker added, but key must be re-published');
  });
}

async function revokeKey(ctx: Ctx, args: string[]): Promise<number> {
  const cmd = sub('revoke-key', ctx.io).argument('[keyid]', 'which host key');
  cmd.parse(args, { from: 'user' });
  const key = ctx.store.select(cmd.args[0]);
  const now = ctx.now();
  let publish = false;
  let reason = MENU_REASONS[1];
  let text = defaultRevocationText(now);
  if (ctx.config.PROMPT) {
    ctx.io.stderr.write(`This will generate a revocation certificate for key ${key.fpr}
and dump the certificate to standard output.

It can also directly publish the new revocation certificate
to the public keyservers via ${ctx.config.KEYSERVER} if you want it to.

Publishing this certificate will IMMEDIATELY and PERMANENTLY revoke
your host key!

`);
    const answer = ((await ctx.asker.ask('Publish the certificate after generation? (y/n/Q) ')) ?? 'q').trim().toLowerCase();
    if (answer !== 'y' && answer !== 'n') {
      ctx.log.error('aborting at user request');
      return 1;
    }
    publish = answer === 'y';
    const r = (
      (await ctx.asker.ask(`Please select the reason for the revocation:
  0 = No reason specified
  1 = Key has been compromised
  2 = Key is superseded
  3 = Key is no longer used
  Q = Cancel
Your decision? [1] `)) ?? 'q'
    )
      .trim()
      .toLowerCase();
    if (r === 'q') {
      ctx.log.error('Revocation canceled.');
      return 1;
    }
    if (r !== '' && !/^[0-3]$/.test(r)) throw new UsageError('MS_HOST_REASON', `invalid revocation reason ${JSON.stringify(r)}`);
    reason = MENU_REASONS[r === '' ? 1 : Number(r)];
    const lines: string[] = [];
    ctx.io.stderr.write('Enter an optional description; end it with an empty line:\n');
    for (;;) {
      const l = await ctx.asker.ask('> ');
      // An empty line or the end of input ends the description.
      if (l === undefined || l.trim() === '') break;
      lines.push(l);
    }
    if (lines.length > 0) text = lines.join('\n');
  }
  const revocation = revocationSignature(key.cert, reason, text, now);
  ctx.io.stdout.write(armor('PUBLIC KEY BLOCK', oldFormat(revocation.packet), { Comment: 'This is a revocation certificate' }));
  if (publish) {
    ctx.io.stderr.write('\n');
    if (!(await confirm(ctx.asker, `Really publish this cert to ${ctx.config.KEYSERVER} ?`, true))) {
      ctx.io.stderr.write('Not publishing.\n');
      return 0;
    }
    const result = await (await keyserverFor(ctx)).send([withRevocation(minimalPublicCert(key.cert), revocation)]);
    ctx.log.info(`revocation of ${key.fpr} published to ${result.server}`);
  }
  return 0;
}

async function publishKeys(ctx: Ctx, args: string[]): Promise<number> {
  const cmd = sub('publish-keys', ctx.io).argument('[keyid...]', 'key IDs; default all').option('--all', 'every host key');
  cmd.parse(args, { from: 'user' });
  const keys = ctx.store.selectMany(cmd.args, cmd.opts<{ all?: boolean }>().all);
  await publishHostKeys(keys, {
    keyserver: () => keyserverFor(ctx),
    confirm: ctx.config.PROMPT ? (k) => confirm(ctx.asker, `Really publish key '${k.fpr}' to ${ctx.config.KEYSERVER}?`, true) : undefined,
    onEvent: (e) => {
      if (e.type === 'declined') ctx.log.error('key not published.');
      else if (e.type === 'published') ctx.log.info(`key ${e.fpr} published to ${e.server}`);
      else ctx.log.error(`key ${e.fpr} not published: ${e.error.message}`);
    },
  });
  return 0;
}

async function diagnostics(ctx: Ctx, args: string[]): Promise<number> {
  sub('diagnostics', ctx.io).parse(args, { from: 'user' });
  let ks: HostKeyserver | undefined;
  let ksProblem: string | undefined;
  if (ctx.config.CHECK_KEYSERVER) {
    try {
      ks = await keyserverFor(ctx);
    } catch (err) {
      if (!(err instanceof MsError)) throw err;
      ksProblem = err.message;
    }
  }
  const findings = await diagnose(ctx.store, {
    now: ctx.now(),
    hostname: ctx.deps.hostname ?? defaultHostname,
    sshdHostKeys: () => sshdHostKeys(ctx.deps.sshdCommand ?? ['sshd', '-T']),
    fetchPublished: ks
      ? async (fpr) => {
          const r = await ks.getByFingerprint(fpr);
          const c = r.certs.find((x) => x.primary.fpr === fpr);
          if (!c) throw new NotFoundError('MS_KEYSERVER_NOT_FOUND', `${fpr} not found`);
          return c;
        }
      : undefined,
    keyserver: ctx.config.KEYSERVER,
    monkeysphereUser: ctx.config.MONKEYSPHERE_USER,
    userExists: ctx.deps.userExists ?? (async (name) => (await lookupAccounts([name])).has(name)),
  });
  if (ksProblem) findings.unshift({ level: 'note', message: `the keyserver was not checked: ${ksProblem}` });
  const out = ctx.io.stdout;
  out.write('Checking host keys...\n');
  let lastKey: string | undefined;
  let problems = 0;
  for (const f of findings) {
    if (f.fpr && f.fpr !== lastKey) {
      out.write(`Checking host key ${f.fpr}...\n`);
      lastKey = f.fpr;
    }
    if (f.level === 'note') {
      out.write(`Note: ${f.message}\n`);
      continue;
    }
    problems++;
    out.write(`! ${f.message}\n`);
    if (f.recommendation) out.write(` - Recommendation: ${f.recommendation}\n`);
  }
  if (problems === 0) {
    out.write('Everything seems to be in order!\n');
    return 0;
  }
  out.write(`When the above ${problems} issue${problems === 1 ? ' is' : 's are'} resolved, please re-run:\n  monkeysphere-host diagnostics\n`);
  return 1;
}

async function updatePubFile(ctx: Ctx, args: string[]): Promise<number> {
  sub('update-pgp-pub-file', ctx.io).parse(args, { from: 'user' });
  await locked(ctx, async () => ctx.store.writePublicFile());
  return 0;
}

/**
 * Moves the 0.43 host keys ($SYSDATADIR/host, a GnuPG home) into the store, keeping their
 * fingerprints. `explicit`: the `migrate` command, which shows each key and may be run again.
 */
async function migrateHostKeys(ctx: Ctx, explicit: boolean, dryRun = false): Promise<number> {
  const m = await import('../host/migrate-043.js');
  const home = m.findLegacyHostHome(ctx.store.paths);
  if (!home) {
    if (explicit) ctx.io.stdout.write(`no Monkeysphere 0.43 host keyring in ${join(ctx.store.paths.sysDataDir, 'host')}; nothing to migrate\n`);
    return 0;
  }
  if (!explicit && ctx.store.list().length > 0) return 0;
  const plan = m.planHostMigration(ctx.store, home, ctx.io.env);
  if (explicit) {
    ctx.io.stdout.write(`Monkeysphere 0.43 host keyring ${home} (read, never changed):\n`);
    for (const k of plan.keys) ctx.io.stdout.write(`  host key ${k.cert.primary.fpr} ${k.present ? '(already migrated)' : '(to migrate)'}\n`);
  }
  if (dryRun) return 0;
  const saved = await locked(ctx, async () => m.applyHostMigration(ctx.store, plan));
  for (const fpr of saved) ctx.log.info(`migrated the Monkeysphere 0.43 host key ${fpr} from ${home} (its fingerprint and certifications kept; the 0.43 keyring is left in place)`);
  return 0;
}

async function migrate(ctx: Ctx, args: string[]): Promise<number> {
  const opts = sub('migrate', ctx.io).option('-n, --dry-run', 'show what would be migrated, change nothing').parse(args, { from: 'user' }).opts<{ dryRun?: boolean }>();
  return migrateHostKeys(ctx, true, opts.dryRun);
}

/** The command's one reference time (src/clock.ts). */
function fixedNow(t: number): () => number {
  return () => t;
}

type Handler = (ctx: Ctx, args: string[]) => Promise<number>;

const COMMANDS: Array<{ names: string[]; run: Handler }> = [
  { names: ['import-key', 'import', 'i'], run: importKey },
  { names: ['show-keys', 'show-key', 'show', 's'], run: showKeys },
  { names: ['set-expire', 'extend-key', 'extend', 'e'], run: setExpire },
  { names: ['add-servicename', 'add-hostname', 'add-name', 'n+'], run: addName },
  { names: ['revoke-servicename', 'revoke-hostname', 'revoke-name', 'n-'], run: revokeName },
  { names: ['add-revoker', 'r+'], run: addRevokerCmd },
  { names: ['revoke-key'], run: revokeKey },
  { names: ['publish-keys', 'publish-key', 'publish', 'p'], run: publishKeys },
  { names: ['diagnostics', 'd'], run: diagnostics },
  { names: ['update-pgp-pub-file'], run: updatePubFile },
  { names: ['migrate'], run: migrate },
];

export async function main(argv: string[], io: Io = processIo(), deps: HostDeps = {}): Promise<number> {
  return runCommand(TOOL, io, async () => {
    const [command, ...args] = argv;
    if (command === undefined) throw new UsageError('MS_HOST_NO_COMMAND', 'please supply a subcommand', { hints: [`Type '${TOOL} help' for usage.`] });
    if (['help', '--help', '-h', 'h', '?'].includes(command)) {
      io.stdout.write(USAGE);
      return 0;
    }
    if (command === 'version' || command === 'v' || command === '--version') {
      // The bare version, as the original's `cat VERSION`.
      io.stdout.write(`${version()}\n`);
      return 0;
    }
    const entry = COMMANDS.find((c) => c.names.includes(command));
    if (!entry) throw new UsageError('MS_HOST_COMMAND', `Unknown command: '${command}'`, { hints: [`Type '${TOOL} help' for usage.`] });
    const loaded = loadConfig(HOST_VARS, { env: io.env, files: configFiles('monkeysphere-host', io.env) });
    const log = loggerFor(io, loaded.values.LOG_LEVEL);
    for (const p of loaded.problems) log.error(`${p.where}${p.line ? `:${p.line}` : ''}: ${p.message}`);
    const ctx: Ctx = {
      io,
      config: loaded.values,
      log,
      store: new HostKeyStore(hostPaths(io.env)),
      now: deps.now ?? fixedNow(referenceTime(io.env)),
      asker: stdinAsker(io.stdin, io.stderr),
      deps,
    };
    // On first use after 0.43: its host keys, before anything looks for a host key.
    if (entry.run !== migrate) await migrateHostKeys(ctx, false);
    try {
      return await entry.run(ctx, args);
    } catch (err) {
      if (!(err instanceof CommanderError)) throw err;
      // `--help` of a subcommand: commander printed it.
      if (err.exitCode === 0) return 0;
      throw new UsageError('MS_HOST_USAGE', `${command}: ${err.message.replace(/^error: /, '')}`, { hints: [`Type '${TOOL} help' for usage.`] });
    }
  });
}
