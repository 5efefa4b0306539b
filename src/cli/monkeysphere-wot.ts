/**
 * monkeysphere-wot: asks the web of trust how valid a binding (key, user ID) is, with
 * GnuPG's classic model (stricter where GnuPG is unsafe) and an explanation: the
 * certification paths behind a verdict, or why there are none. Reads keyrings, or the
 * user's GnuPG home through gpg's machine-readable exports. Only this file prints.
 */
import { Command, Option } from 'commander';
import { parseTime, referenceTime, type UnixTime } from '../clock.js';
import { InputError, UsageError } from '../errors.js';
import { defaultWebCachePath, openWebCache, type WebCache } from '../gnupg/cache.js';
import { normalizeKeyHandle, parseOwnertrust, parseRootHandle } from '../gnupg/config.js';
import { defaultGnupgHome, type GnupgTrustSettings, readGnupgHome } from '../gnupg/home.js';
import { type CertSource, keyringSource, readInput } from '../gnupg/source.js';
import { cachedComputeOptions, type ComputedWeb, type ComputeOptions, computeWeb, listBindings } from '../gnupg/web.js';
import { type KeySpec, parseKeySpec, specMatches } from '../openpgp/fingerprint.js';
import { quoted } from '../util/printable.js';
import { explanationJson, formatExplanation, validityWord, verdictText } from '../wot/format.js';
import type { Binding, PathCheck, TrustNetwork } from '../wot/network.js';
import type { TrustOptions } from '../wot/types.js';
import { type Io, processIo } from './io.js';
import { type Logger, loggerFor } from './log.js';
import { EXIT, runCommand } from './run.js';

const TOOL = 'monkeysphere-wot';

interface GlobalOptions {
  keyring: string[];
  gnupg?: string | true;
  ownertrust?: string;
  root: string[];
  at?: string;
  marginalsNeeded?: string;
  completesNeeded?: string;
  maxCertDepth?: string;
  model: 'strict' | 'gnupg';
  json?: boolean;
  cache: string | false;
}

const DESCRIPTION = [
  'How valid is a binding of a user ID to an OpenPGP key? monkeysphere-wot answers with GnuPG\'s classic "pgp" web-of-trust model: ultimately trusted roots; introducers with full or marginal ownertrust; trust signatures with depth, amount and domain scope; marginals-needed, completes-needed and max-cert-depth.',
  "It is stricter than GnuPG where GnuPG is unsafe: a trust signature's scope binds every certification made further down its delegation chain (GnuPG forgets it one level down). It never accepts a binding that GnuPG 2.2 rejects.",
  'Validity is reported as GnuPG\'s letters: u ultimate, f full, m marginal, q signed but nothing counted, - unknown, e expired, r revoked. Only u and f are valid, as in Monkeysphere. Every answer comes with an explanation: the certification paths from a root that justify it, or why it is not valid.',
].join('\n\n');

const AFTER = `
Inputs:
  Certificates come from --keyring files (armored or binary, repeatable) and/or
  --gnupg, which runs "gpg --export --export-options export-local-sigs" and
  "gpg --export-ownertrust" in GNUPGHOME (default $GNUPGHOME or ~/.gnupg) and reads
  marginals-needed, completes-needed, max-cert-depth, min-cert-level, trust-model and
  trusted-key from its gpg.conf. Roots are --root keys, ownertrust 6 entries and
  trusted-key lines. Command-line options override gpg.conf. gpg --export runs only
  when the home's pubring.kbx (or pubring.gpg) changed since a stored result.

Exit status:
  0  the binding asked about is fully valid (u or f); list always exits 0
  1  it is not
  2  usage error
  3  bad input: unreadable keyring, malformed ownertrust file or gpg.conf
  4  environment: gpg missing or failing

Files:
  $XDG_CACHE_HOME/monkeysphere/wot-verify.sqlite (or ~/.cache/...): verified
  certifications, so a second run verifies nothing it has seen, and snapshots of
  evaluated keyrings: while the inputs are byte for byte the same and no key,
  signature or expiry time lies between the snapshot's reference time and now, a
  run reads the snapshot instead of parsing (--cache FILE, --no-cache).

Examples:
  monkeysphere-wot --keyring ring.pgp --root 2D1C258A98AD42585E139485B3234FB7404B91C7 list
  monkeysphere-wot --gnupg authenticate 'Dave <dave@example.org>' 7D17723472E24FE14E95D4F0A58E548AD0E911AC
  monkeysphere-wot --gnupg --json lookup 'Dave <dave@example.org>'
  monkeysphere-wot --keyring ring.pgp --ownertrust trust.txt --at 2023-01-15 identify 0xA58E548AD0E911AC

See docs/design/wot.md for the model and every way it differs from GnuPG.
`;

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/**
 * Runs monkeysphere-wot with `argv` (without the program name).
 * @returns the exit status: 0 valid, 1 not valid, 2 usage, 3 bad input, 4 environment.
 */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  return runCommand(TOOL, io, async () => {
    let status: number = EXIT.ok;
    const program = new Command(TOOL)
      .exitOverride()
      .helpCommand(true)
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
      .showHelpAfterError(`(run '${TOOL} --help' for usage)`)
      .description(DESCRIPTION)
      .option('-k, --keyring <file>', 'read certificates from FILE, armored or binary (repeatable)', collect)
      .option('--gnupg [gnupghome]', "read the user's GnuPG keyring, ownertrust and gpg.conf")
      .option('--ownertrust <file>', 'ownertrust in the format of gpg --export-ownertrust (FPR:N: lines; 6 = root)')
      .option('-r, --root <fingerprint>', 'an ultimately trusted key, by fingerprint or key ID (repeatable)', collect)
      .option('--at <time>', 'reference time, ISO 8601 (default: now)')
      .option('--marginals-needed <n>', 'marginal introducers that make a binding valid (default 3)')
      .option('--completes-needed <n>', 'full introducers that make a binding valid (default 1)')
      .option('--max-cert-depth <n>', 'longest chain of certifications from a root (default 5)')
      .addOption(new Option('--model <model>', 'strict: never better than GnuPG and scopes bind whole chains; gnupg: GnuPG 2.2 exactly').choices(['strict', 'gnupg']).default('strict'))
      .option('--json', 'print JSON for programs instead of text')
      .option('--cache <file>', 'cache of verified signatures and evaluated keyrings (default under $XDG_CACHE_HOME/monkeysphere)')
      .option('--no-cache', 'do not read or write the cache')
      .addHelpText('after', AFTER);

    /** Reads the inputs, opens the cache, runs `body` with them, and closes what it opened. */
    const withInputs = async (body: (inputs: Inputs, computing: Computing, opts: GlobalOptions) => Promise<number>) => {
      const raw = program.opts<GlobalOptions>();
      const opts: GlobalOptions = { ...raw, keyring: raw.keyring ?? [], root: raw.root ?? [] };
      const log = loggerFor(io);
      const inputs = readInputs(opts, io, log);
      const cache = await openCache(opts, io, log);
      const computing = startComputing(cache, log);
      try {
        status = await body(inputs, computing, opts);
      } finally {
        await cache.close();
      }
    };
    /** Computes the web (every certification of an introducer verified, so bindings can be explained) and runs `body`. */
    const run = (body: (net: TrustNetwork, opts: GlobalOptions) => number) =>
      withInputs(async (inputs, computing, opts) => {
        const computed = await computeWeb(inputs.sources, { ...inputs.trust, detail: 'explanations' }, computing.options);
        computing.report(computed, computed.unknownRoots, computed.network.missingRoots);
        return body(computed.network, opts);
      });

    program
      .command('list')
      .description('every binding with its validity; always exits 0')
      .argument('[pattern]', 'only bindings whose user ID or fingerprint contains this (case-insensitive)')
      .action((pattern: string | undefined) =>
        withInputs(async (inputs, computing, opts) => {
          const listed = await listBindings(inputs.sources, inputs.trust, computing.options);
          computing.report(listed.computed, listed.unknownRoots, listed.missingRoots);
          return cmdList(listed.bindings, opts, io, pattern);
        }),
      );
    program
      .command('authenticate')
      .description('is USERID on the key FINGERPRINT fully valid? explains why, or why not')
      .argument('<userid>')
      .argument('<fingerprint>')
      .action((userId: string, fpr: string) => run((net, opts) => cmdExplain(net, opts, io, [[resolveKey(net, fpr, false), userId]])));
    program
      .command('lookup')
      .description('the keys carrying exactly USERID, each binding explained')
      .argument('<userid>')
      .action((userId: string) =>
        run((net, opts) => {
          const keys = net.keysWithUserId(userId);
          if (keys.length === 0 && !opts.json) {
            io.stdout.write(`no key carries the user ID ${quoted(userId)}\n`);
            return EXIT.no;
          }
          return cmdExplain(
            net,
            opts,
            io,
            keys.map((f) => [f, userId]),
          );
        }),
      );
    program
      .command('identify')
      .description('every user ID of the key FINGERPRINT, each explained')
      .argument('<fingerprint>')
      .action((fpr: string) =>
        run((net, opts) => {
          const f = resolveKey(net, fpr, false);
          const key = net.key(f);
          const pairs: Array<[string, string]> = key ? key.userIds.filter((u) => !u.attribute).map((u) => [f, u.text]) : [[f, '']];
          return cmdExplain(net, opts, io, pairs);
        }),
      );
    program
      .command('path')
      .description('check a path given as fingerprints, root first and target last, then the user ID: each certification along it, then the binding')
      .argument('<keys...>', 'fingerprints, root first and target last, then USERID')
      .action((args: string[]) =>
        run((net, opts) => {
          if (args.length < 3) throw new UsageError('MS_WOT_PATH', 'path needs at least two fingerprints and a user ID', { hints: [`${TOOL} path ROOT [INTRODUCER...] TARGET USERID`] });
          const userId = args[args.length - 1];
          const fprs = args.slice(0, -1).map((a) => resolveKey(net, a, true));
          return cmdPath(net.checkPath(fprs, userId), opts, io);
        }),
      );

    await program.parseAsync(argv, { from: 'user' });
    return status;
  });
}

/** A fingerprint (or key ID found in the keyring) in canonical form. */
function resolveKey(net: TrustNetwork, handle: string, mustExist: boolean): string {
  let spec: KeySpec | undefined;
  try {
    spec = parseKeySpec(handle);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
  }
  if (spec === undefined || spec.kind === 'short') {
    throw new UsageError('MS_WOT_FINGERPRINT', `not a fingerprint or key ID: ${JSON.stringify(handle)}`, { hints: ['give 40 hex digits (v4), 64 (v6), or a 16-digit key ID'] });
  }
  if (spec.kind === 'fingerprint') {
    if (mustExist && !net.key(spec.fpr)) throw new InputError('MS_WOT_NO_KEY', `key ${spec.fpr} is not in the keyring`);
    return spec.fpr;
  }
  const h = spec.keyId;
  const matches = net.graph.keys.filter((k) => specMatches(spec, k.key.fpr));
  if (matches.length === 1) return matches[0].key.fpr;
  if (matches.length > 1) throw new UsageError('MS_WOT_AMBIGUOUS', `key ID ${h} names ${matches.length} keys`, { hints: ['give the full fingerprint'] });
  if (mustExist) throw new InputError('MS_WOT_NO_KEY', `key ${h} is not in the keyring`);
  return h;
}

function cmdList(bindings: Binding[], opts: GlobalOptions, io: Io, pattern: string | undefined): number {
  const needle = pattern?.toLowerCase();
  const rows = bindings.filter((b) => !needle || b.userId.toLowerCase().includes(needle) || b.fingerprint.toLowerCase().includes(needle));
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return EXIT.ok;
  }
  for (const b of rows) io.stdout.write(`${b.valid ? '[✓]' : '[ ]'} ${b.fingerprint} ${quoted(b.userId)}: ${validityWord(b.validity)} (${b.validity})\n`);
  return EXIT.ok;
}

function cmdExplain(net: TrustNetwork, opts: GlobalOptions, io: Io, pairs: Array<[string, string]>): number {
  const explanations = pairs.map(([f, u]) => net.explain(f, u));
  if (opts.json) io.stdout.write(`${JSON.stringify(explanations.map(explanationJson), null, 2)}\n`);
  else io.stdout.write(explanations.map((e) => `${formatExplanation(e)}\n`).join('\n'));
  return explanations.some((e) => e.valid) ? EXIT.ok : EXIT.no;
}

function cmdPath(check: PathCheck, opts: GlobalOptions, io: Io): number {
  const ok = check.pathHolds && check.binding.valid;
  if (opts.json) {
    const hops = check.hops.map((h) => ({
      ...h,
      verdict: { ...h.verdict, message: h.verdict.code === 'no-certification' ? 'no certification by the issuer on the target' : verdictText(h.verdict) },
    }));
    io.stdout.write(`${JSON.stringify({ ...check, hops, binding: explanationJson(check.binding) }, null, 2)}\n`);
    return ok ? EXIT.ok : EXIT.no;
  }
  const lines = [`Path of ${check.fingerprints.length} keys to ${quoted(check.userId)}: ${check.pathHolds ? 'every certification counts' : 'broken'}`];
  if (!check.firstIsRoot) lines.push(`  ✗ ${check.fingerprints[0]} is not an ultimately trusted root`);
  for (const h of check.hops) {
    const good = h.verdict.code === 'counted';
    const why = h.verdict.code === 'no-certification' ? 'no certification by the issuer on the target' : verdictText(h.verdict);
    lines.push(`  ${good ? '✓' : '✗'} ${h.issuer} → ${h.target}${h.userId !== undefined ? ` ${quoted(h.userId)}` : ''}: ${why}`);
    if (h.targetIsIntroducer === false) lines.push(`    ✗ ${h.target} is not an introducer (not fully valid with ownertrust or a trust signature, or beyond max-cert-depth)`);
  }
  lines.push('', formatExplanation(check.binding));
  io.stdout.write(`${lines.join('\n')}\n`);
  return ok ? EXIT.ok : EXIT.no;
}

// ---- Loading the inputs ------------------------------------------------------------------

function parseAt(value: string | undefined, io: Io): UnixTime {
  if (value === undefined) return referenceTime(io.env);
  const t = parseTime(value);
  if (t === undefined) throw new UsageError('MS_WOT_TIME', `--at is not a time: ${JSON.stringify(value)}`, { hints: ['use ISO 8601, such as 2023-01-15 or 2023-01-15T00:00:00Z'] });
  return t;
}

function parseCount(name: string, value: string | undefined, lo: number, hi: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < lo || Number(value) > hi) {
    throw new UsageError('MS_WOT_OPTION', `--${name} needs a number from ${lo} to ${hi}, not ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** The cache database (verified signatures and snapshots of evaluated keyrings), unless --no-cache. */
async function openCache(opts: GlobalOptions, io: Io, log: Logger): Promise<WebCache> {
  if (opts.cache === false) return { close: async () => undefined };
  return openWebCache(typeof opts.cache === 'string' ? opts.cache : defaultWebCachePath(io.env), (m) => log.info(`warning: ${m}`));
}

interface Inputs {
  sources: CertSource[];
  trust: TrustOptions;
}

/** The certificate sources and trust options the global options name. */
function readInputs(opts: GlobalOptions, io: Io, log: Logger): Inputs {
  const sources: CertSource[] = opts.keyring.map(keyringSource);

  let ownertrust = new Map<string, number>();
  const trustedKeys: string[] = [];
  let settings: GnupgTrustSettings = {};
  if (opts.gnupg !== undefined) {
    const home = typeof opts.gnupg === 'string' ? opts.gnupg : defaultGnupgHome(io.env);
    const gnupg = readGnupgHome(home, { env: io.env, onWarning: (m) => log.info(`warning: ${m}`) });
    trustedKeys.push(...gnupg.roots);
    settings = gnupg.settings;
    sources.push(gnupg.source);
    ownertrust = gnupg.ownertrust;
  }
  if (opts.ownertrust !== undefined) {
    for (const [f, v] of parseOwnertrust(readInput(opts.ownertrust, 'ownertrust file').toString('utf8'), opts.ownertrust)) ownertrust.set(f, v);
  }
  if (opts.keyring.length === 0 && opts.gnupg === undefined) {
    throw new UsageError('MS_WOT_NO_INPUT', 'no certificates to read', { hints: ['give --keyring FILE (repeatable) or --gnupg'] });
  }
  const roots = opts.root.map((r) => {
    const root = parseRootHandle(r);
    if (!root) {
      throw new UsageError('MS_WOT_FINGERPRINT', `not a fingerprint or long key ID: ${JSON.stringify(normalizeKeyHandle(r))}`, {
        hints: ['give 40 hex digits (v4), 64 (v6), or a 16-digit key ID; short key IDs are too easily forged'],
      });
    }
    return root;
  });
  roots.push(...trustedKeys);
  if (roots.length === 0 && ![...ownertrust.values()].some((v) => (v & 15) === 6)) {
    log.info('warning: no ultimately trusted keys; nothing can be valid (give --root, --ownertrust or --gnupg)');
  }
  return {
    sources,
    trust: {
      roots,
      ownertrust,
      now: parseAt(opts.at, io),
      marginalsNeeded: parseCount('marginals-needed', opts.marginalsNeeded, 2, 255) ?? settings.marginalsNeeded,
      completesNeeded: parseCount('completes-needed', opts.completesNeeded, 1, 255) ?? settings.completesNeeded,
      maxCertDepth: parseCount('max-cert-depth', opts.maxCertDepth, 1, 255) ?? settings.maxCertDepth,
      minCertLevel: settings.minCertLevel,
      trustSignatures: settings.trustSignatures,
      model: opts.model,
    },
  };
}

interface Computing {
  options: ComputeOptions;
  report(computed: ComputedWeb | undefined, unknownRoots: string[], missingRoots: string[]): void;
}

/** What a computation uses (snapshots; a verifier made only if packets need verifying) and what it reports. */
function startComputing(cache: WebCache, log: Logger): Computing {
  const started = performance.now();
  const options = cachedComputeOptions(cache, (source, p) => log.verbose(`${source}: skipped: ${p.message}`));
  const report = (computed: ComputedWeb | undefined, unknownRoots: string[], missingRoots: string[]) => {
    for (const r of unknownRoots) log.info(`warning: root ${r} is not in the keyring`);
    for (const m of missingRoots) log.verbose(`root ${m} is not in the keyring`);
    const ms = Math.round(performance.now() - started);
    const verifier = options.verifierMade();
    if (!computed) log.verbose(`inputs and trust options unchanged: the stored result holds; ${ms} ms`);
    else if (computed.from === 'snapshot') log.verbose(`${computed.fingerprints.length} certificates, from a snapshot of their evaluation; nothing verified; ${ms} ms`);
    else if (verifier) {
      const s = verifier.stats;
      log.verbose(
        `${computed.fingerprints.length} certificates; ${s.verified} signatures verified, ${s.cached} from the cache, ${computed.unchecked} certifications never needed checking; ${ms} ms`,
      );
    }
  };
  return { options, report };
}
