/**
 * monkeysphere-authentication: the administrator's tool for sshd user authentication
 * through the OpenPGP web of trust (monkeysphere-authentication(8)). Every subcommand and
 * alias of the original; its trust lives in our own store under $SYSDATADIR (no GnuPG
 * home). Exit codes: 0 ok; 1 done, but some account or check needs attention; 2 usage;
 * 3 bad input or unknown key; 4 environment (permissions, setup); 5 temporary (keyserver,
 * lock held); 70 bug.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { type Account, listAccounts, lookupAccounts } from '../auth/accounts.js';
import { type CertifierOptions, describeCertifier } from '../auth/certifiers.js';
import type { AccountCertifier } from '../auth/account-certifiers.js';
import type { MigrationPlan } from '../auth/migrate-043.js';
import { type AuthConfig, type AuthPaths, authPaths, keyserverTimeoutMs, loadAuthConfig } from '../auth/config.js';
import { referenceTime, type UnixTime } from '../clock.js';
import type { CoreKey } from '../auth/core.js';
import { keysForUser, userKeysSettings } from '../auth/keys-for-user.js';
import { type AuthStore, keyIdOf } from '../auth/store.js';
import { InputError, MsError, NotFoundError, UsageError } from '../errors.js';
import { withLock } from '../files/lock.js';
import type { Cert } from '../openpgp/cert.js';
import { type KeySpec, parseKeySpec } from '../openpgp/fingerprint.js';
import { printable, quoted } from '../util/printable.js';
import { type Io, processIo, readAll } from './io.js';
import { type Logger, loggerFor } from './log.js';
import { EXIT, runCommand } from './run.js';
import { confirm as ask, stdinAsker } from './prompt.js';
import { version } from './version.js';

const TOOL = 'monkeysphere-authentication';

const USAGE = `usage: ${TOOL} <subcommand> [options] [args]
Monkeysphere authentication admin tool.

subcommands:
 update-users (u) [USER]...          update user authorized_keys files
 keys-for-user (k) USER              output user authorized_keys lines to stdout
 explain USER [USER-ID]              why each user ID the account lists (or USER-ID)
                                     grants keys or not: certificates, paths, keys
 refresh-keys (r)                    refresh keys in keyring
 watch [--interval S] [USER]...      update-users for an account as soon as its files,
                                     the certifiers or the certificates change

 add-id-certifier (c+) KEYID|FILE|-  import and tsign a certification key
   [--domain (-n) DOMAIN]              limit ID certifications to DOMAIN
   [--trust (-t) TRUST]                trust level of certifier (default: full)
   [--depth (-d) DEPTH]                trust depth for certifier (default: 1)
 remove-id-certifier (c-) KEYID      remove a certification key
 list-id-certifiers (c)              list certification keys

 setup (s)                           set up the trust core and directories
 migrate [--dry-run]                 import the certifiers and keys of Monkeysphere 0.43
                                     (done by any subcommand on first use; 0.43's files
                                     stay as they are)
 diagnostics (d)                     monkeysphere authentication status

 gpg-cmd ARGS...                     a gpg command on the store (--import, --export,
                                     --list-keys, --recv-keys, --refresh-keys,
                                     --delete-keys FPR to delete a certificate)

 version (v)                         show version number
 help (h,?)                          this help

See ${TOOL}(8) for more info.
`;

interface Ctx {
  io: Io;
  config: AuthConfig['values'];
  log: Logger;
  paths: AuthPaths;
  /** The reference time of every decision (src/clock.ts). */
  now: UnixTime;
}

async function monkeysphereAccount(ctx: Ctx): Promise<Account | undefined> {
  const user = ctx.config.MONKEYSPHERE_USER;
  const a = (await lookupAccounts([user])).get(user);
  if (!a) ctx.log.debug(`monkeysphere user ${JSON.stringify(user)} not found; the store stays readable by root only`);
  return a;
}

/**
 * The implicit setup every subcommand but version, help and keys-for-user starts with,
 * including the migration of Monkeysphere 0.43's data on first use (unless `migrate` itself
 * asks to handle it).
 */
async function withSetup<T>(ctx: Ctx, body: (store: AuthStore, core: CoreKey) => Promise<T>, opts: { autoMigrate?: boolean } = {}): Promise<T> {
  const { setup } = await import('../auth/setup.js');
  const { store, core, created } = await setup(ctx.paths, ctx.now, await monkeysphereAccount(ctx));
  if (created) ctx.log.info(`created the trust core ${core.primary.fpr}`);
  try {
    if (opts.autoMigrate !== false) await migrateOnFirstUse(ctx, store, core);
    return await body(store, core);
  } finally {
    await store.close();
  }
}

/** Migrates 0.43's data when it is there and not yet migrated; a failure stops the command before it changes anything else. */
async function migrateOnFirstUse(ctx: Ctx, store: AuthStore, core: CoreKey): Promise<void> {
  const m = await import('../auth/migrate-043.js');
  const legacy = m.findLegacy043(ctx.paths);
  if (!legacy || (await m.isMigrated(store))) return;
  ctx.log.info(`migrating the Monkeysphere 0.43 data in ${ctx.paths.dataDir} (left in place)...`);
  await withLock(ctx.paths.lock, async () => {
    if (await m.isMigrated(store)) return;
    const plan = await m.planMigration(store.cache, legacy, ctx.io.env, ctx.now);
    reportPlan(ctx, plan, (line) => ctx.log.info(line));
    await applyPlan(ctx, store, core, plan);
  });
}

function reportPlan(ctx: Ctx, plan: MigrationPlan, say: (line: string) => void): void {
  say(`0.43 trust core: ${plan.oldCore} (replaced by this server's core)`);
  if (plan.certifiers.length === 0) say('identity certifiers: none');
  for (const e of plan.certifiers) say(`identity certifier: ${describeCertifier(e)}`);
  say(`certificates to import: ${plan.certs.length}`);
  for (const w of plan.warnings) ctx.log.error(`warning: ${w}`);
}

async function applyPlan(ctx: Ctx, store: AuthStore, core: CoreKey, plan: MigrationPlan): Promise<void> {
  const { applyMigration } = await import('../auth/migrate-043.js');
  const { describeDropped } = await import('../auth/ingest.js');
  const r = await applyMigration(store, core, plan, ctx.now);
  for (const d of r.dropped) ctx.log.verbose(`key ${d.fpr}: ${describeDropped(d.dropped)}`);
  await refresh(ctx, store);
  ctx.log.info(`migrated from Monkeysphere 0.43: ${r.imported} certificate(s), ${plan.certifiers.length} certifier user ID(s) (${r.signed} newly signed by the trust core ${core.primary.fpr})`);
}

async function refresh(ctx: Ctx, store: AuthStore): Promise<void> {
  const { refreshBindings } = await import('../auth/compute.js');
  const computed = await refreshBindings(store, ctx.now);
  if (computed) ctx.log.debug(`recomputed ${computed.stats.bindings} bindings over ${computed.stats.certs} certificates (${computed.stats.verified} signatures verified, ${computed.stats.cached} cached)`);
}

/** A keyserver client; `deadlineMs` bounds one whole operation (default: three request timeouts, at least 30 s). */
async function keyserverClient(ctx: Ctx, server?: string, deadlineMs?: number) {
  const { KeyserverClient } = await import('../keyserver/client.js');
  const timeoutMs = keyserverTimeoutMs(ctx.io.env);
  const servers = (server ?? ctx.config.KEYSERVER).split(/[\s,]+/).filter((s) => s !== '');
  return new KeyserverClient({
    servers,
    timeoutMs,
    deadlineMs: deadlineMs ?? Math.max(timeoutMs * 3, 30_000),
    onEvent: (e) => {
      if (e.type === 'failover') ctx.log.verbose(`keyserver ${e.server}: ${e.error.message}`);
    },
  });
}

/** The original's confirmations; PROMPT=false answers yes. */
async function confirm(ctx: Ctx, question: string, defaultYes: boolean): Promise<boolean> {
  if (!ctx.config.PROMPT) return true;
  return ask(stdinAsker(ctx.io.stdin, ctx.io.stderr), question, defaultYes);
}

/** The lines that show an admin which key is meant: its fingerprint and user IDs, escaped (anyone chooses user IDs). */
function describeCert(cert: Cert): string[] {
  const uids = cert.users.filter((u) => u.kind === 'userid').map((u) => `uid  ${printable(u.text)}`);
  return [`pub  ${cert.primary.fpr}`, ...uids];
}

// ---------------------------------------------------------------------------------------
// Subcommands

async function cmdSetup(ctx: Ctx): Promise<number> {
  return withSetup(ctx, async (store, core) => {
    await refresh(ctx, store);
    ctx.log.verbose(`trust core: ${core.primary.fpr}`);
    return EXIT.ok;
  });
}

async function cmdUpdateUsers(ctx: Ctx, names: string[]): Promise<number> {
  return withSetup(ctx, (store, core) =>
    withLock(ctx.paths.lock, async () => {
      // A core that never certified anyone makes no user ID valid: writing now would empty
      // every file, which is what a new or unmigrated store looks like, not a decision. Keep
      // them. (Once certifiers were added, removing them all is a decision, and it counts.)
      if ((await store.certifiedBy([keyIdOf(core.primary.fpr)])).length === 0) {
        ctx.log.error('no identity certifier was ever added to this store, so no user ID can be valid; every existing authorized_keys file is kept unchanged');
        ctx.log.error(`add one with: ${TOOL} add-id-certifier KEYID (to end all Monkeysphere access instead, remove the files in ${ctx.paths.authorizedKeysDir})`);
        return EXIT.no;
      }
      const { updateUsers } = await import('../auth/update-users.js');
      const { describeDropped } = await import('../auth/ingest.js');
      let accounts: Account[];
      let unknown = false;
      if (names.length > 0) {
        const found = await lookupAccounts(names);
        accounts = [];
        for (const n of names) {
          const a = found.get(n);
          if (a) accounts.push(a);
          else {
            ctx.log.error(`----- unknown user '${n}' -----`);
            unknown = true;
          }
        }
      } else accounts = await listAccounts();
      const result = await updateUsers({
        store,
        accounts,
        settings: userKeysSettings(ctx.config),
        outputDir: ctx.paths.authorizedKeysDir,
        now: ctx.now,
        keyserver: ctx.config.CHECK_KEYSERVER ? await keyserverClient(ctx) : undefined,
        onEvent: (e) => {
          switch (e.type) {
            case 'keyserver-error':
              ctx.log.error(`could not search the keyserver for ${JSON.stringify(e.userId)}: ${e.error.message}`);
              break;
            case 'keyserver-skipped':
              ctx.log.error(`skipped the keyserver for ${e.remaining} more user ID(s); using the stored certificates`);
              break;
            case 'keyserver-fetched':
              ctx.log.debug(`keyserver: ${e.certs} certificate(s) for ${JSON.stringify(e.userId)}`);
              break;
            case 'keyserver-dropped':
              ctx.log.verbose(`keyserver: key ${e.fpr} for ${JSON.stringify(e.userId)}: ${describeDropped(e.dropped)}`);
              break;
            case 'user': {
              const o = e.outcome;
              ctx.log.verbose(`----- user: ${o.name} -----`);
              for (const p of o.keys?.problems ?? []) ctx.log.error(`${o.name}: ${p.message}`);
              if (o.action === 'kept') ctx.log.error(`Failed to install authorized_keys for '${o.name}'; the previous file is kept${o.error ? `: ${o.error}` : ''}`);
              else ctx.log.debug(`${o.name}: ${o.action} (${o.keys?.keyLines ?? 0} key line(s))`);
              break;
            }
          }
        },
      });
      await logKeyChanges(ctx, store, result.users);
      return result.problems || unknown ? EXIT.no : EXIT.ok;
    }),
  );
}

/** Logs (INFO) each key an account gained or lost, and why, in the engine's words. */
/** Beyond this many keys added or removed in one run, the reasons are given at VERBOSE only (explaining costs a full computation). */
const EXPLAINED_CHANGES = 100;

async function logKeyChanges(ctx: Ctx, store: AuthStore, users: import('../auth/update-users.js').UserOutcome[]): Promise<void> {
  const changed = users.filter((u) => u.added.length + u.removed.length > 0);
  if (changed.length === 0) return;
  const { explainUserIds, sshKeyFingerprint, whyKey } = await import('../auth/explain.js');
  const total = changed.reduce((n, u) => n + u.added.length + u.removed.length, 0);
  if (total > EXPLAINED_CHANGES && !ctx.log.enabled('VERBOSE')) {
    // A first run or a certifier removed: one line per account, not thousands.
    for (const u of changed) ctx.log.info(`${u.name}: ${u.added.length} key(s) added, ${u.removed.length} removed (LOG_LEVEL=VERBOSE or 'explain ${u.name}' says why)`);
    return;
  }
  const uidsOf = (list: typeof changed) => [...new Set(list.flatMap((u) => [...u.added, ...u.removed].flatMap((k) => (k.userId === undefined ? [] : [k.userId]))))];
  const explain = async (list: typeof changed, certifiers: AccountCertifier[] = []) => new Map((await explainUserIds(store, uidsOf(list), ctx.now, [], certifiers)).map((x) => [x.userId, x]));
  // Accounts with their own certifiers are explained with them, one by one; the rest together.
  const shared = await explain(changed.filter((u) => (u.certifiers ?? []).length === 0));
  for (const u of changed) {
    const explained = (u.certifiers ?? []).length === 0 ? shared : await explain([u], u.certifiers);
    for (const [verb, list] of [['added', u.added], ['removed', u.removed]] as const) {
      for (const k of list) {
        const what = `${u.name}: ${verb} ${k.key.split(' ')[0]} ${sshKeyFingerprint(k.key)}`;
        if (k.userId === undefined) ctx.log.info(`${what} (a key line of the account's own authorized_keys file)`);
        else ctx.log.info(`${what} for ${quoted(k.userId)}: ${whyKey(explained.get(k.userId), k.key, verb === 'removed')}`);
      }
    }
  }
}

async function cmdKeysForUser(ctx: Ctx, name: string): Promise<number> {
  const explain = ctx.log.enabled('VERBOSE') ? (lines: string[]) => {
        for (const l of lines) ctx.log.verbose(l);
      } : undefined;
  const keys = await keysForUser(name, ctx.config, ctx.paths, ctx.now, { explain });
  for (const p of keys.problems) ctx.log.error(p.message);
  ctx.io.stdout.write(keys.content);
  return EXIT.ok;
}

async function cmdRefreshKeys(ctx: Ctx): Promise<number> {
  return withSetup(ctx, (store) =>
    withLock(ctx.paths.lock, async () => {
      const { lastChecked, recordChecked } = await import('../auth/login.js');
      const stored: Array<{ cert: Cert; checked: number }> = [];
      const coreFpr = (await store.state()).coreFpr;
      for await (const s of store.certs.all()) if (s.fpr !== coreFpr) stored.push({ cert: s.cert, checked: (await lastChecked(store, s.fpr)) ?? -1 });
      // The least recently confirmed first (never confirmed before all): if the run is cut
      // short, the oldest windows were closed first.
      const certs = stored.sort((a, b) => a.checked - b.checked).map((s) => s.cert);
      let status: number = EXIT.ok;
      if (certs.length > 0) {
        // A refresh is one operation over every certificate: allow a second per certificate, at most an hour.
        const client = await keyserverClient(ctx, undefined, Math.min(3_600_000, Math.max(60_000, certs.length * 1000)));
        const r = await client.refresh(certs);
        const updated = r.certs.filter((c) => r.updated.includes(c.primary.fpr));
        // Through the one ingest path (src/auth/ingest.ts): what it drops does not count as an update.
        const { ingestCerts, describeDropped } = await import('../auth/ingest.js');
        const ingested = updated.length > 0 ? (await ingestCerts(store, updated, ctx.now)).certs : [];
        for (const c of ingested) if (describeDropped(c.dropped)) ctx.log.info(`key ${c.fpr}: ${describeDropped(c.dropped)}`);
        const changed = ingested.filter((c) => c.status !== 'unchanged').length;
        ctx.log.info(`refreshed ${certs.length} key(s): ${changed} updated, ${r.notFound.length} not on the keyserver, ${r.failed.length} failed`);
        for (const f of r.failed) ctx.log.error(`could not refresh ${f.fpr}: ${f.error.message}`);
        // Confirmed: the keyserver answered for them (what it had is merged in now).
        const unconfirmed = new Set([...r.notFound, ...r.failed.map((f) => f.fpr)]);
        await recordChecked(store, certs.map((c) => c.primary.fpr).filter((f) => !unconfirmed.has(f)), ctx.now);
        if (r.failed.length > 0) status = EXIT.temporary;
      }
      await refresh(ctx, store);
      return status;
    }),
  );
}

async function readCertifierKey(ctx: Ctx, store: AuthStore, arg: string): Promise<{ cert: Cert; fromKeyserver: boolean }> {
  const { readKeyData } = await import('../auth/gpg-cmd.js');
  let bytes: Buffer | undefined;
  let what = arg;
  if (arg === '-') {
    bytes = await readAll(ctx.io.stdin);
    what = 'standard input';
  } else {
    try {
      bytes = readFileSync(arg);
      ctx.log.info(`Reading key from file '${arg}':`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new InputError('MS_AUTH_CERTIFIER_FILE', `cannot read ${JSON.stringify(arg)}: ${(err as Error).message}`);
    }
  }
  if (bytes !== undefined) {
    const { certs } = readKeyData(bytes, what);
    if (certs.length !== 1) throw new InputError('MS_AUTH_CERTIFIER_FILE', `there was not exactly one key in ${what === arg ? JSON.stringify(arg) : what} (found ${certs.length})`);
    return { cert: certs[0], fromKeyserver: false };
  }
  let spec: KeySpec | undefined;
  try {
    spec = parseKeySpec(arg);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
  }
  if (spec === undefined || spec.kind === 'short') {
    throw new UsageError('MS_AUTH_CERTIFIER_ID', `${JSON.stringify(arg)} is neither a file nor a key ID`, { hints: ['give a 16-digit key ID, a fingerprint, a file, or - for standard input'] });
  }
  const id = spec.kind === 'keyid' ? spec.keyId : spec.fpr;
  const { namesPrimary } = await import('../auth/certifiers.js');
  const client = await keyserverClient(ctx);
  ctx.log.debug('retrieving key from keyserver...');
  let certs: Cert[];
  try {
    certs = (spec.kind === 'keyid' ? await client.getByKeyId(id) : await client.getByFingerprint(id)).certs;
  } catch (err) {
    if (err instanceof MsError) {
      err.hints.push(`could not receive a key with this ID from the keyserver ${JSON.stringify(ctx.config.KEYSERVER)}`);
      // A stored copy is still good enough to certify: one whose primary key is the key asked
      // for, never a certificate that merely carries that key as a subkey (anyone can bind one).
      const stored = (await store.certs.byKeyId(id).catch(() => [])).filter((s) => namesPrimary(s.cert, spec));
      if (stored.length === 1 && err instanceof NotFoundError) return { cert: stored[0].cert, fromKeyserver: true };
    }
    throw err;
  }
  const matching = certs.filter((c) => namesPrimary(c, spec));
  if (matching.length !== 1) throw new InputError('MS_AUTH_CERTIFIER_ID', `key ${JSON.stringify(arg)} not found (or not unique) on the keyserver`);
  return { cert: matching[0], fromKeyserver: true };
}

async function cmdAddCertifier(ctx: Ctx, arg: string, raw: { domain?: string; trust?: string; depth?: string }): Promise<number> {
  const { parseCertifierOptions, addCertifier } = await import('../auth/certifiers.js');
  const opts: CertifierOptions = parseCertifierOptions(raw, ctx.now);
  return withSetup(ctx, (store, core) =>
    withLock(ctx.paths.lock, async () => {
      const { cert, fromKeyserver } = await readCertifierKey(ctx, store, arg);
      ctx.log.info('key found:');
      for (const line of describeCert(cert)) ctx.log.info(line);
      if (fromKeyserver && !(await confirm(ctx, 'Are you sure you want to add the above key as a\ncertifier of users on this system?', true))) {
        throw new UsageError('MS_AUTH_NOT_CONFIRMED', 'identity certifier not added');
      }
      const added = await addCertifier(store, core, cert, opts);
      await refresh(ctx, store);
      ctx.log.info(`Identity certifier added: ${added.fpr} (${added.userIds.length} user ID(s), ${opts.trust}, depth ${opts.depth}${opts.domain ? `, domain ${opts.domain}` : ''}).`);
      return EXIT.ok;
    }),
  );
}

async function cmdRemoveCertifier(ctx: Ctx, arg: string): Promise<number> {
  const { findOne, removeCertifier } = await import('../auth/certifiers.js');
  return withSetup(ctx, (store, core) =>
    withLock(ctx.paths.lock, async () => {
      const cert = await findOne(store, arg);
      for (const line of describeCert(cert)) ctx.log.info(line);
      if (!(await confirm(ctx, 'Really remove the above listed identity certifier?', true))) {
        throw new UsageError('MS_AUTH_NOT_CONFIRMED', 'identity certifier not removed');
      }
      await removeCertifier(store, core, cert, ctx.now);
      await refresh(ctx, store);
      ctx.log.info('Identity certifier removed.');
      return EXIT.ok;
    }),
  );
}

async function certifierEntries(ctx: Ctx, store: AuthStore, core: CoreKey) {
  const { listCertifiers } = await import('../auth/certifiers.js');
  await refresh(ctx, store);
  const validity = (fpr: string, uid: string) => store.validity(fpr, uid);
  return listCertifiers(store, core, ctx.now, validity);
}

async function cmdListCertifiers(ctx: Ctx): Promise<number> {
  const { formatCertifiers } = await import('../auth/certifiers.js');
  return withSetup(ctx, async (store, core) => {
    ctx.io.stdout.write(formatCertifiers(await certifierEntries(ctx, store, core)));
    return EXIT.ok;
  });
}

async function cmdDiagnostics(ctx: Ctx): Promise<number> {
  const { diagnose, sshdEffectiveConfig } = await import('../auth/diagnostics.js');
  const { evaluateCerts } = await import('../cert/evaluate.js');
  const { Keyring } = await import('../keyring/keyring.js');
  const { Verifier } = await import('../verify/verifier.js');
  return withSetup(ctx, async (store, core) => {
    const [ev] = await evaluateCerts([core.cert], new Keyring([core.cert]), { now: ctx.now, verifier: new Verifier() });
    const certifiers = new Set((await certifierEntries(ctx, store, core)).map((e) => e.fpr)).size;
    const { computeBindings } = await import('../auth/compute.js');
    const { lastChecked } = await import('../auth/login.js');
    const granting = [...new Set((await computeBindings(store, { now: ctx.now })).rows.filter((r) => r.keys.length > 0).map((r) => r.fpr))];
    const checked = await Promise.all(granting.map(async (fpr) => ({ fpr, at: await lastChecked(store, fpr) })));
    checked.sort((a, b) => (a.at ?? -1) - (b.at ?? -1));
    const freshness = { granting: granting.length, unchecked: checked.filter((c) => c.at === undefined).length, oldestFpr: checked[0]?.fpr, oldestChecked: checked[0]?.at, maxAge: ctx.config.REFRESH_MAX_AGE };
    const { translateSshVariables } = await import('../auth/config.js');
    const userFiles = (await listAccounts().catch(() => [])).map((a) => ({ account: a.name, path: translateSshVariables(ctx.config.AUTHORIZED_USER_IDS, a) }));
    const { lines, problems } = diagnose({
      userFiles,
      freshness,
      paths: ctx.paths,
      now: ctx.now,
      core: { fpr: ev.fpr, created: ev.primary.key.created, expires: ev.primary.expires, status: ev.primary.status },
      certifiers,
      sshdConfig: sshdEffectiveConfig(ctx.io.env.MONKEYSPHERE_SSHD ?? '/usr/sbin/sshd'),
    });
    ctx.io.stdout.write(`${lines.join('\n')}\n`);
    return problems > 0 ? EXIT.no : EXIT.ok;
  });
}

async function cmdExplain(ctx: Ctx, name: string, userId?: string): Promise<number> {
  const { explainUserIds, formatUserIdExplanation } = await import('../auth/explain.js');
  const { readUserKeySources } = await import('../auth/user-keys.js');
  const account = (await lookupAccounts([name])).get(name);
  if (!account) throw new NotFoundError('MS_AUTH_UNKNOWN_USER', `unknown user ${JSON.stringify(name)}`);
  const sources = readUserKeySources(account, { ...userKeysSettings(ctx.config), rawAuthorizedKeys: 'none' });
  for (const p of sources.problems) ctx.log.error(p.message);
  const listed = sources.entries.map((e) => e.userId);
  const asked = userId !== undefined ? [userId] : listed;
  return withSetup(ctx, async (store) => {
    await refresh(ctx, store);
    if (asked.length === 0) ctx.io.stdout.write(`account ${name} lists no user IDs, so Monkeysphere grants it no key\n`);
    for (const c of sources.certifiers) ctx.io.stdout.write(`account ${name} names its own identity certifier ${c.fpr} (${c.trust}, depth ${c.depth}${c.domain ? `, domain ${c.domain}` : ''}), for this account only\n`);
    for (const x of await explainUserIds(store, asked, ctx.now, [], sources.certifiers)) ctx.io.stdout.write(`${formatUserIdExplanation(x, listed.includes(x.userId))}\n`);
    return EXIT.ok;
  });
}

/**
 * Runs update-users whenever an account's files, the store or the time say its answer
 * changed (src/auth/watch.ts), until SIGTERM or SIGINT. The first pass updates everyone.
 */
async function cmdWatch(ctx: Ctx, names: string[], opts: { interval: string }): Promise<number> {
  const { accountSignature, changesBetween } = await import('../auth/watch.js');
  const seconds = Number(opts.interval);
  if (!/^\d+(\.\d+)?$/.test(opts.interval) || seconds <= 0) throw new UsageError('MS_AUTH_USAGE', `--interval must be a positive number of seconds, not ${JSON.stringify(opts.interval)}`);
  const settings = userKeysSettings(ctx.config);
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const look = async () => {
    const accounts = names.length > 0 ? [...(await lookupAccounts(names)).values()] : await listAccounts();
    const { AuthStore } = await import('../auth/store.js');
    const store = await AuthStore.open(ctx.paths.store);
    try {
      const state = await store.state();
      return { accounts: new Map(accounts.map((a) => [a.name, accountSignature(a, settings)])), seq: state.seq, validUntil: state.computed?.validUntil ?? null };
    } finally {
      await store.close();
    }
  };
  try {
    let status = await cmdUpdateUsers(ctx, names);
    let seen = await look();
    ctx.log.info(`watching ${seen.accounts.size} account(s) and the store every ${seconds} s`);
    while (!stopping) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, seconds * 1000);
      });
      if (stopping) break;
      const now = referenceTime(ctx.io.env);
      const current = await look();
      const changes = changesBetween(seen, current, now);
      if (changes.all || changes.accounts.length > 0) {
        const which = changes.all ? names : changes.accounts;
        ctx.log.verbose(`changed: ${changes.all ? 'the store or the time; updating every watched account' : changes.accounts.join(', ')}`);
        status = await cmdUpdateUsers({ ...ctx, now }, which);
        if (status !== EXIT.ok) ctx.log.error(`update-users ${which.join(' ')} exited ${status}`);
        // The seq looked at before the update stays the baseline: a change made while it ran
        // (a certifier removed, say) is seen at the next look. Its own keyserver fetches may
        // cost one more pass, which then finds nothing new.
      }
      seen = current;
    }
    return status;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

async function cmdMigrate(ctx: Ctx, opts: { dryRun?: boolean }): Promise<number> {
  const m = await import('../auth/migrate-043.js');
  const legacy = m.findLegacy043(ctx.paths);
  if (!legacy) {
    ctx.io.stdout.write(`no Monkeysphere 0.43 data in ${ctx.paths.dataDir} (no core/pubring.kbx or core/pubring.gpg); nothing to migrate\n`);
    return EXIT.ok;
  }
  const show = (plan: MigrationPlan) => {
    ctx.io.stdout.write(`Monkeysphere 0.43 data in ${ctx.paths.dataDir} (read, never changed):\n`);
    reportPlan(ctx, plan, (line) => ctx.io.stdout.write(`  ${line}\n`));
  };
  if (opts.dryRun) {
    // Nothing is written, not even the store: the plan is made with a throwaway cache.
    const { MemoryVerificationCache } = await import('../verify/cache.js');
    const { existsSync } = await import('node:fs');
    if (existsSync(ctx.paths.store)) {
      const { AuthStore } = await import('../auth/store.js');
      const store = await AuthStore.open(ctx.paths.store, { readonly: true });
      try {
        if (await m.isMigrated(store)) ctx.io.stdout.write('already migrated; migrate would merge what changed in the 0.43 data since\n');
      } finally {
        await store.close();
      }
    }
    show(await m.planMigration(new MemoryVerificationCache(), legacy, ctx.io.env, ctx.now));
    return EXIT.ok;
  }
  return withSetup(
    ctx,
    (store, core) =>
      withLock(ctx.paths.lock, async () => {
        if (await m.isMigrated(store)) ctx.io.stdout.write('already migrated; running again merges what changed in the 0.43 data since\n');
        const plan = await m.planMigration(store.cache, legacy, ctx.io.env, ctx.now);
        show(plan);
        if (!(await confirm(ctx, 'Migrate this data into the store?', true))) throw new UsageError('MS_AUTH_NOT_CONFIRMED', 'nothing migrated', { hints: ['answer y, or run without a terminal with MONKEYSPHERE_PROMPT=false; any other subcommand migrates without asking'] });
        await applyPlan(ctx, store, core, plan);
        return EXIT.ok;
      }),
    { autoMigrate: false },
  );
}

async function cmdGpg(ctx: Ctx, argv: string[]): Promise<number> {
  const g = await import('../auth/gpg-cmd.js');
  const { describeDropped } = await import('../auth/ingest.js');
  const inv = g.parseGpgArgs(argv);
  return withSetup(ctx, async (store, core) => {
    switch (inv.command) {
      case 'import':
        return withLock(ctx.paths.lock, async () => {
          const sources = inv.args.length === 0 ? ['-'] : inv.args;
          const certs: Cert[] = [];
          for (const s of sources) {
            const bytes = s === '-' ? await readAll(ctx.io.stdin) : readFileSync(s);
            const r = g.readKeyData(bytes, s === '-' ? 'standard input' : s);
            for (const p of r.problems) ctx.log.error(`${s}: ${p}`);
            certs.push(...r.certs);
          }
          if (certs.length === 0) throw new InputError('MS_AUTH_GPG_INPUT', 'no valid OpenPGP data found');
          const reports = await g.importCerts(store, certs, ctx.now);
          ctx.io.stderr.write(g.formatImport(reports));
          for (const rep of reports) if (describeDropped(rep.dropped)) ctx.log.info(`key ${rep.fpr}: ${describeDropped(rep.dropped)}`);
          await refresh(ctx, store);
          return EXIT.ok;
        });
      case 'export': {
        const out = g.exportCerts(await g.selectCerts(store, inv.args), inv.armor);
        ctx.io.stdout.write(out);
        return EXIT.ok;
      }
      case 'list-keys': {
        await refresh(ctx, store);
        const certs = await g.selectCerts(store, inv.args);
        const validity = (fpr: string, uid: string) => store.validity(fpr, uid);
        ctx.io.stdout.write(await g.listKeys(store, certs, ctx.now, inv.colons, validity));
        return EXIT.ok;
      }
      case 'recv-keys':
        return withLock(ctx.paths.lock, async () => {
          if (inv.args.length === 0) throw new UsageError('MS_AUTH_GPG_USAGE', '--recv-keys needs key IDs');
          const client = await keyserverClient(ctx, inv.keyserver);
          let status: number = EXIT.ok;
          for (const raw of inv.args) {
            try {
              const spec = parseKeySpec(raw);
              const r = spec.kind === 'fingerprint' ? await client.getByFingerprint(spec.fpr) : await client.getByKeyId(spec.kind === 'keyid' ? spec.keyId : spec.hex);
              const reports = await g.importCerts(store, r.certs, ctx.now);
              ctx.io.stderr.write(g.formatImport(reports));
              for (const rep of reports) if (describeDropped(rep.dropped)) ctx.log.info(`key ${rep.fpr}: ${describeDropped(rep.dropped)}`);
            } catch (err) {
              if (!(err instanceof MsError)) throw err;
              ctx.log.error(`keyserver receive failed for ${raw}: ${err.message}`);
              status = err.exitCode;
            }
          }
          await refresh(ctx, store);
          return status;
        });
      case 'refresh-keys':
        return cmdRefreshKeys(ctx);
      case 'delete-keys':
        return withLock(ctx.paths.lock, async () => {
          const { certs, exact } = await g.selectForDeletion(store, inv.args, core.primary.fpr);
          // gpg's rules: --batch deletes only keys named by fingerprint, unless --yes; otherwise it asks (y/N).
          if (inv.batch && !inv.yes && !exact) {
            throw new UsageError('MS_AUTH_GPG_USAGE', 'can\'t do this in batch mode without "--yes"', { hints: ['(unless you specify the key by fingerprint)'] });
          }
          if (!inv.batch && !inv.yes && ctx.config.PROMPT) {
            for (const c of certs) for (const line of describeCert(c)) ctx.log.info(line);
            const question = certs.length === 1 ? 'Delete this key from the keyring?' : `Delete these ${certs.length} keys from the keyring?`;
            if (!(await confirm(ctx, question, false))) throw new UsageError('MS_AUTH_NOT_CONFIRMED', `${certs.length === 1 ? 'key' : 'keys'} not deleted`);
          }
          await g.deleteCerts(store, certs);
          for (const c of certs) ctx.log.verbose(`deleted key ${c.primary.fpr}`);
          await refresh(ctx, store);
          return EXIT.ok;
        });
    }
  });
}

// ---------------------------------------------------------------------------------------

const HELP = new Set(['help', '--help', '-h', 'h', '?']);
const VERSION = new Set(['version', '--version', 'v']);

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  return runCommand(TOOL, io, async () => {
    if (argv.length === 0) {
      io.stderr.write(USAGE);
      throw new UsageError('MS_AUTH_NO_SUBCOMMAND', 'please supply a subcommand');
    }
    if (HELP.has(argv[0])) {
      io.stdout.write(USAGE);
      return EXIT.ok;
    }
    if (VERSION.has(argv[0])) {
      io.stdout.write(`${version()}\n`);
      return EXIT.ok;
    }
    const config = loadAuthConfig(io.env);
    const log = loggerFor(io, config.values.LOG_LEVEL);
    for (const p of config.problems) log.error(`${p.where}${p.line ? `:${p.line}` : ''}: ${p.message}`);
    const ctx: Ctx = { io, config: config.values, log, paths: authPaths(io.env), now: referenceTime(io.env) };

    let status: number = EXIT.ok;
    const program = new Command(TOOL)
      .exitOverride()
      .helpCommand(false)
      // commander's own error lines are not printed: its errors become ours below, in the `TOOL: error:` form, once.
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => undefined });
    program.command('setup').alias('s').description('set up the trust core and directories').action(async () => {
      status = await cmdSetup(ctx);
    });
    program
      .command('update-users')
      .aliases(['u', 'update', 'update-user'])
      .argument('[users...]')
      .action(async (users: string[]) => {
        status = await cmdUpdateUsers(ctx, users);
      });
    program
      .command('keys-for-user')
      .alias('k')
      .argument('<user>')
      .action(async (user: string) => {
        status = await cmdKeysForUser(ctx, user);
      });
    program
      .command('refresh-keys')
      .aliases(['r', 'refresh'])
      .action(async () => {
        status = await cmdRefreshKeys(ctx);
      });
    program
      .command('add-id-certifier')
      .aliases(['c+', 'add-certifier', 'add-identity-certifier'])
      .option('-n, --domain <domain>', 'limit ID certifications to DOMAIN')
      .option('-t, --trust <trust>', 'trust level of certifier: marginal or full', 'full')
      .option('-d, --depth <depth>', 'trust depth for certifier', '1')
      .argument('<key>', 'KEYID, FILE or - for standard input')
      .action(async (key: string, opts: { domain?: string; trust?: string; depth?: string }) => {
        status = await cmdAddCertifier(ctx, key, opts);
      });
    program
      .command('remove-id-certifier')
      .aliases(['c-', 'remove-certifier', 'remove-identity-certifier'])
      .argument('<keyid>')
      .action(async (key: string) => {
        status = await cmdRemoveCertifier(ctx, key);
      });
    program
      .command('list-id-certifiers')
      .aliases(['c', 'list-certifiers', 'list-identity-certifiers', 'list-certifier'])
      .action(async () => {
        status = await cmdListCertifiers(ctx);
      });
    program
      .command('watch')
      .option('-i, --interval <seconds>', 'how often to look for changes', '5')
      .argument('[users...]')
      .action(async (users: string[], opts: { interval: string }) => {
        status = await cmdWatch(ctx, users, opts);
      });
    program
      .command('explain')
      .argument('<user>')
      .argument('[user-id]')
      .action(async (user: string, userId?: string) => {
        status = await cmdExplain(ctx, user, userId);
      });
    program
      .command('migrate')
      .option('-n, --dry-run', 'show what would be migrated, change nothing')
      .action(async (opts: { dryRun?: boolean }) => {
        status = await cmdMigrate(ctx, opts);
      });
    program
      .command('diagnostics')
      .alias('d')
      .action(async () => {
        status = await cmdDiagnostics(ctx);
      });
    program
      .command('gpg-cmd')
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument('[args...]')
      .action(async (args: string[]) => {
        status = await cmdGpg(ctx, args);
      });
    try {
      await program.parseAsync(argv, { from: 'user' });
    } catch (err) {
      if (err instanceof CommanderError && err.code === 'commander.unknownCommand') {
        throw new UsageError('MS_AUTH_UNKNOWN_SUBCOMMAND', `unknown command: ${JSON.stringify(argv[0])}`, { hints: [`try '${TOOL} help' for usage`] });
      }
      if (err instanceof CommanderError && err.exitCode !== 0) {
        throw new UsageError('MS_AUTH_USAGE', err.message.replace(/^error: /, ''), { hints: [`try '${TOOL} help' for usage`] });
      }
      throw err;
    }
    return status;
  });
}

