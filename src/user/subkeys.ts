/**
 * The user's authentication subkeys (behaviour inventory §1 gen-subkey, §4
 * subkey-to-ssh-agent): making one with gpg --quick-add-key, and loading them into
 * ssh-agent (or removing them) straight from gpg-agent (src/agent/). Which keys are
 * secret, valid and authentication-capable is decided by our own code: certificates from
 * `gpg --export`, evaluated at the reference time, keygrips computed from the key
 * material and looked up in gpg-agent. No gpg listing is read.
 */
import { spawn } from 'node:child_process';
import type { Asker, UserLog } from './ports.js';
import type { AssuanClient } from '../agent/assuan.js';
import { connectGpgAgent, type SecretKeyKind, secretKeygrips, sendPinentryOptions } from '../agent/gpg-agent.js';
import { exportSecretKey } from '../agent/key-export.js';
import { keygripOf } from '../agent/keygrip.js';
import { sshAgentKeyFields, sshPublicBlobOf, wipeSecretKey } from '../agent/secret-key.js';
import { type Constraints, SshAgentClient, sshAuthSock } from '../agent/ssh-agent.js';
import { parseTransferArgs } from '../agent/transfer-args.js';
import { evaluateCerts } from '../cert/evaluate.js';
import type { EvaluatedCert, SubkeyState } from '../cert/types.js';
import { EnvironmentError, errorMessage, MsError, NotFoundError, UsageError } from '../errors.js';
import { runGpg } from '../gnupg/gpg.js';
import { Keyring } from '../keyring/keyring.js';
import { PubKeyAlg } from '../openpgp/algorithms.js';
import { type Cert, readCerts } from '../openpgp/cert.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { KeyFlag } from '../openpgp/signature.js';
import { hasSshForm, sshBlobFromKeyPacket } from '../ssh/openpgp.js';
import { Verifier } from '../verify/verifier.js';

export interface SubkeyContext {
  env: NodeJS.ProcessEnv;
  gnupgHome: string;
  log: UserLog;
  prompt: boolean;
  asker: Asker;
  /** Reference time, Unix seconds. */
  now: number;
}

/** The user's certificates with at least one secret key in gpg-agent, evaluated at ctx.now. */
interface SecretHome {
  agent: AssuanClient;
  held: Map<string, SecretKeyKind>;
  secret: EvaluatedCert[];
  /** Every certificate of the home, evaluated (for MONKEYSPHERE_SUBKEYS_FOR_AGENT). */
  all(): Promise<EvaluatedCert[]>;
}

const keysOf = (c: Cert): KeyPacket[] => [c.primary, ...c.subkeys.map((s) => s.key)];

/**
 * Reads the GnuPG home's certificates and asks gpg-agent which of their keys it holds.
 * The caller closes `agent`.
 * @throws EnvironmentError (MS_WOT_GPG, MS_AGENT_GPG_AGENT_UNAVAILABLE, …)
 */
async function readSecretHome(ctx: SubkeyContext): Promise<SecretHome> {
  const { certs } = readCerts(runGpg(ctx.env, ctx.gnupgHome, ['--export']));
  const keyring = new Keyring(certs);
  const grips = new Map<KeyPacket, string>();
  for (const c of keyring) {
    for (const k of keysOf(c)) {
      const g = keygripOf(k);
      if (g) grips.set(k, g);
    }
  }
  const agent = await connectGpgAgent({ env: ctx.env, homedir: ctx.gnupgHome, notice: (m) => ctx.log.info(m) });
  try {
    const held = await secretKeygrips(agent, grips.values());
    const isHeld = (k: KeyPacket) => held.has(grips.get(k) ?? '');
    const evaluate = (list: Cert[]) => evaluateCerts(list, keyring, { now: ctx.now, verifier: new Verifier(), certifications: false });
    const secret = await evaluate([...keyring].filter((c) => keysOf(c).some(isHeld)));
    return { agent, held, secret, all: () => evaluate([...keyring]) };
  } catch (err) {
    agent.close();
    throw err;
  }
}

const isAuth = (flags: number) => (flags & KeyFlag.Authenticate) !== 0;

/** Algorithms ssh-agent can take a key of: the original's RSA and EdDSA, and ECDSA. */
const SSH_ALGORITHMS = new Set<number>([PubKeyAlg.RSA, PubKeyAlg.EdDSALegacy, PubKeyAlg.ECDSA]);

/** Valid (the primary too: gpg marks a revoked or expired primary's subkeys likewise), authentication-capable, with an SSH form. */
function usableAuthSubkey(ev: EvaluatedCert, s: SubkeyState): boolean {
  return ev.primary.status === 'valid' && s.status === 'valid' && isAuth(s.flags) && SSH_ALGORITHMS.has(s.key.algorithm) && hasSshForm(s.key);
}

/** The name a key gets in ssh-agent: the first user ID without "/", else `Monkeysphere Key 0x<fpr>`. */
export function agentLabel(ev: EvaluatedCert, subkeyFpr: string): string {
  const first = ev.cert.users.find((u) => u.kind === 'userid');
  const label = (first?.text ?? '').replaceAll('/', '');
  return label || `Monkeysphere Key 0x${subkeyFpr}`;
}

interface Chosen {
  ev: EvaluatedCert;
  subkey: SubkeyState;
  grip: string;
}

/** MONKEYSPHERE_SUBKEYS_FOR_AGENT's entries: subkey fingerprints (or key IDs), `0x` and a trailing `!` allowed. */
async function listedSubkeys(ctx: SubkeyContext, home: SecretHome, listed: string): Promise<Chosen[]> {
  const all = await home.all();
  const out: Chosen[] = [];
  for (const entry of listed.split(/\s+/).filter(Boolean)) {
    const id = entry.replace(/^0x/i, '').replace(/!$/, '').toUpperCase();
    let found: Chosen | undefined;
    for (const ev of all) {
      const s = ev.subkeys.find((x) => /^[0-9A-F]{16,}$/.test(id) && x.key.fpr.endsWith(id) && (id.length === 16 || id.length === x.key.fpr.length));
      const grip = s && keygripOf(s.key);
      if (s && grip && isAuth(s.flags) && hasSshForm(s.key)) found = { ev, subkey: s, grip };
    }
    if (found) out.push(found);
    else ctx.log.error(`Did not find authentication-capable subkey with key ID '${entry}'.`);
  }
  return out;
}

/** Every usable authentication subkey of the user's secret keys whose secret gpg-agent holds on disk, by fingerprint. */
function secretAuthSubkeys(ctx: SubkeyContext, home: SecretHome): Chosen[] {
  const out = new Map<string, Chosen>();
  for (const ev of home.secret) {
    for (const s of ev.subkeys) {
      if (!usableAuthSubkey(ev, s)) continue;
      const grip = keygripOf(s.key);
      const kind = grip ? home.held.get(grip) : undefined;
      if (!grip || !kind) {
        ctx.log.verbose(`authentication subkey ${s.key.fpr} has no secret key in gpg-agent; skipped`);
        continue;
      }
      if (kind === 'card') {
        ctx.log.info(`authentication subkey ${s.key.fpr} is on a smartcard and cannot be exported; gpg-agent's own ssh support (enable-ssh-support) can use it`);
        continue;
      }
      out.set(s.key.fpr, { ev, subkey: s, grip });
    }
  }
  return [...out.values()].sort((a, b) => (a.subkey.key.fpr < b.subkey.key.fpr ? -1 : 1));
}

/**
 * monkeysphere subkey-to-ssh-agent [-d] [-c] [-t SECONDS]: loads every valid authentication
 * subkey of the user's secret keys (or those MONKEYSPHERE_SUBKEYS_FOR_AGENT lists) into
 * ssh-agent from gpg-agent, whose pinentry asks for passphrases; `-d` removes them.
 * Primary keys are never sent. Returns 0, or 1 when a key failed (the last failure's
 * status, as the original).
 * @throws EnvironmentError (MS_USER_NO_SSH_AGENT, MS_USER_SSH_AGENT_CONNECT, …),
 *   NotFoundError (MS_USER_NO_SECRET_KEYS, MS_USER_NO_AUTH_SUBKEYS)
 */
export async function subkeyToSshAgent(ctx: SubkeyContext, args: string[]): Promise<number> {
  const remove = args[0] === '-d';
  // Options go on to each key's transfer, as the original's "$@" to agent-transfer: a bad
  // one fails each key (status 1) rather than the command.
  let constraints: Constraints = {};
  let badOption: MsError | undefined;
  let help = false;
  if (!remove) {
    try {
      const parsed = parseTransferArgs(args, { flagsOnly: true });
      constraints = { confirm: parsed.confirm, lifetime: parsed.lifetime };
      help = parsed.help;
    } catch (err) {
      if (!(err instanceof MsError)) throw err;
      badOption = err;
    }
  }

  if (!ctx.env.SSH_AUTH_SOCK) throw new EnvironmentError('MS_USER_NO_SSH_AGENT', 'No ssh-agent available.', { hints: ['start one with: eval "$(ssh-agent)"'] });
  let ssh: SshAgentClient;
  try {
    ssh = await SshAgentClient.connect(sshAuthSock(ctx.env));
    await ssh.listIdentities();
  } catch (err) {
    throw new EnvironmentError('MS_USER_SSH_AGENT_CONNECT', 'Could not connect to ssh-agent', { cause: err, hints: [errorMessage(err)] });
  }

  try {
    const home = await readSecretHome(ctx);
    try {
      const listed = ctx.env.MONKEYSPHERE_SUBKEYS_FOR_AGENT;
      let chosen: Chosen[];
      if (listed) {
        chosen = await listedSubkeys(ctx, home, listed);
      } else {
        if (home.secret.length === 0) {
          throw new NotFoundError('MS_USER_NO_SECRET_KEYS', 'You have no secret keys in your keyring!', { hints: ["You might want to run 'gpg --gen-key'."] });
        }
        chosen = secretAuthSubkeys(ctx, home);
        if (chosen.length === 0) {
          throw new NotFoundError('MS_USER_NO_AUTH_SUBKEYS', 'no authentication-capable subkeys available.', { hints: ["You might want to run 'monkeysphere gen-subkey'."] });
        }
      }
      if (badOption) {
        if (chosen.length === 0) return 0;
        ctx.log.error(badOption.message);
        ctx.log.error('subkey-to-ssh-agent takes -d (first, alone), or -c and -t SECONDS');
        return 1;
      }
      if (help) {
        ctx.log.info('subkey-to-ssh-agent [-d] [-c] [-t SECONDS]: -d removes the keys, -c asks before each use, -t SECONDS sets their lifetime');
        return 0;
      }
      if (!remove && chosen.length > 0) await sendPinentryOptions(home.agent, ctx.env, (m) => ctx.log.error(m));
      let status = 0;
      for (const c of chosen) {
        const label = agentLabel(c.ev, c.subkey.key.fpr);
        const blob = sshBlobFromKeyPacket(c.subkey.key);
        try {
          if (remove) {
            await ssh.removeIdentity(blob);
            ctx.log.info(`Identity removed: ${label}`);
          } else {
            const key = await exportSecretKey(home.agent, c.grip, label);
            const fields = sshAgentKeyFields(key);
            try {
              // The keygrip was computed here, not read from gpg: never add a key other than the one listed.
              if (!sshPublicBlobOf(key).equals(blob)) throw new EnvironmentError('MS_AGENT_PROTOCOL', `gpg-agent's key for keygrip ${c.grip} is not subkey ${c.subkey.key.fpr}`);
              await ssh.addIdentity(fields, label, constraints);
            } finally {
              fields.fill(0);
              wipeSecretKey(key);
            }
            ctx.log.verbose(`added subkey ${c.subkey.key.fpr} to ssh-agent as "${label}"`);
          }
        } catch (err) {
          if (!(err instanceof MsError)) throw err;
          ctx.log.error(remove ? `Could not remove identity "${label}": ${err.message}` : `${label}: ${err.message}`);
          status = 1;
        }
      }
      return status;
    } finally {
      home.agent.close();
    }
  } finally {
    ssh.close();
  }
}

/** Whether a certificate matches a gpg-style key specification: a key ID or fingerprint (of the primary or a subkey), `=uid`, `<email>`, `@domain`, or a user ID substring. */
export function matchesKeySpec(ev: EvaluatedCert, spec: string): boolean {
  const hex = spec.replace(/^0x/i, '').replace(/!$/, '').toUpperCase();
  if (/^[0-9A-F]{8}$|^[0-9A-F]{16}$|^[0-9A-F]{40}$|^[0-9A-F]{64}$/.test(hex)) return keysOf(ev.cert).some((k) => k.fpr.endsWith(hex));
  const uids = ev.cert.users.filter((u) => u.kind === 'userid').map((u) => u.text);
  if (spec.startsWith('=')) return uids.includes(spec.slice(1));
  if (spec.startsWith('<')) {
    const email = spec.replace(/^<|>$/g, '').toLowerCase();
    return uids.some((u) => (/<([^<>]*)>\s*$/.exec(u)?.[1] ?? u).toLowerCase() === email);
  }
  const needle = (spec.startsWith('@') ? spec.slice(1) : spec).toLowerCase();
  return uids.some((u) => u.toLowerCase().includes(needle));
}

/** Runs gpg with the pinentry reachable: our stdin stays its stdin (gpg tells gpg-agent its terminal). */
function runGpgInteractive(ctx: SubkeyContext, args: string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('gpg', ['--homedir', ctx.gnupgHome, '--batch', ...args], { env: { ...ctx.env, LC_ALL: 'C' }, stdio: ['inherit', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ status: code ?? -1, stderr }));
  });
}

/**
 * monkeysphere gen-subkey [-l BITS] [-t rsa|ed25519] [KEYID]: adds an authentication
 * subkey that never expires, through gpg --quick-add-key; gpg-agent's pinentry asks for
 * the passphrase. Without KEYID the user must have exactly one secret key. When the key
 * already has a valid authentication key, asks first (y/N), and stops when PROMPT is false.
 * @throws NotFoundError (MS_USER_NO_SECRET_KEYS, MS_USER_SECRET_KEY_NOT_FOUND), UsageError
 *   (MS_USER_MULTIPLE_SECRET_KEYS, MS_USER_ABORTED), EnvironmentError (MS_USER_GEN_SUBKEY)
 */
export async function genSubkey(ctx: SubkeyContext, opts: { keyId?: string; length?: number; type: 'rsa' | 'ed25519' }): Promise<number> {
  const home = await readSecretHome(ctx);
  home.agent.close();
  const primaries = home.secret.filter((ev) => {
    const grip = keygripOf(ev.primary.key);
    return grip !== undefined && home.held.has(grip);
  });
  const candidates = opts.keyId === undefined ? primaries : primaries.filter((ev) => matchesKeySpec(ev, opts.keyId!));
  if (candidates.length === 0) {
    if (opts.keyId !== undefined) {
      throw new NotFoundError('MS_USER_SECRET_KEY_NOT_FOUND', `No secret key found for ${JSON.stringify(opts.keyId)}.`, { hints: ['list your secret keys with: gpg --list-secret-keys'] });
    }
    throw new NotFoundError('MS_USER_NO_SECRET_KEYS', 'No secret keys found.  Create an OpenPGP key with the following command:', { hints: [' gpg --gen-key'] });
  }
  if (candidates.length > 1) {
    throw new UsageError('MS_USER_MULTIPLE_SECRET_KEYS', 'Multiple primary secret keys found:', {
      hints: [...candidates.map((ev) => ev.keyId), 'Please specify which primary key to use.'],
    });
  }
  const ev = candidates[0];
  const hasValidAuth = ev.primary.status === 'valid' && (isAuth(ev.primary.flags) || ev.subkeys.some((s) => s.status === 'valid' && isAuth(s.flags)));
  if (hasValidAuth) {
    ctx.log.info(`A valid authentication key already exists for primary key '${ev.keyId}'.`);
    if (!ctx.prompt) throw new UsageError('MS_USER_ABORTED', 'aborting.', { hints: ['PROMPT is false: gen-subkey does not add a second authentication key without asking'] });
    const answer = await ctx.asker.ask('Are you sure you would like to generate another one? (y/N) ');
    if (!/^y(es)?$/i.test((answer ?? '').trim())) throw new UsageError('MS_USER_ABORTED', 'aborting.');
  }
  const algo = opts.type === 'ed25519' ? 'ed25519' : `rsa${opts.length ?? 3072}`;
  ctx.log.info('Generating subkey.  This may take a long time...');
  const r = await runGpgInteractive(ctx, ['--quick-add-key', ev.fpr, algo, 'auth', '0']);
  if (r.status !== 0) {
    const why = r.stderr.trim().split('\n').filter((l) => !/no update needed/.test(l)).pop() ?? `exit ${r.status}`;
    throw new EnvironmentError('MS_USER_GEN_SUBKEY', `gpg could not add the ${algo} authentication subkey to ${ev.fpr}: ${why.replace(/^gpg: /, '')}`, {
      hints: genSubkeyHints(why, opts.type === 'rsa' ? (opts.length ?? 3072) : undefined),
    });
  }
  ctx.log.verbose('done.');
  return 0;
}

/** Advice for gpg's failure to add the subkey: only what its message points at. */
function genSubkeyHints(why: string, rsaLength: number | undefined): string[] {
  if (/ioctl|pinentry|tty|cancel/i.test(why)) return ['gpg needs a terminal or a graphical pinentry to ask for your passphrase: run it from a terminal, or set pinentry-program in gpg-agent.conf'];
  if (rsaLength !== undefined && (rsaLength < 1024 || rsaLength > 4096)) return ['gpg takes RSA lengths from 1024 to 4096 bits'];
  return [];
}
