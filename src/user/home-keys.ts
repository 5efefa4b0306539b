/**
 * What each user ID of a GnuPG home grants, as the original's process_user_id decides it
 * (behaviour inventory §2) but from our engine: for every certificate carrying the user ID,
 * the binding's validity (the letter `gpg --list-keys` shows, never better) and every SSH
 * key of the certificate, each marked acceptable or not. Unacceptable keys are listed so
 * that files can drop them: unlike the original, that includes the subkeys of a revoked or
 * expired primary, and keys of certificates gpg marks disabled.
 * The slow path: it parses and evaluates the whole keyring; userid-index.ts keeps its result.
 */
import type { UnixTime } from '../clock.js';
import { type TimeWindow, timeWindow } from '../cert/time-window.js';
import type { EvaluatedCert, Status } from '../cert/types.js';
import { evaluateKeyring } from '../cert/evaluate.js';
import { readGnupgHome } from '../gnupg/home.js';
import { gnupgTrustOptions } from '../gnupg/trust.js';
import type { Env } from '../gnupg/gpg.js';
import { Keyring } from '../keyring/keyring.js';
import { readCerts } from '../openpgp/cert.js';
import { KeyFlag } from '../openpgp/signature.js';
import { hasSshForm, sshLineFromKeyPacket } from '../ssh/openpgp.js';
import type { VerificationCache } from '../store/types.js';
import { Verifier } from '../verify/verifier.js';
import { buildTrustNetwork } from '../wot/build.js';
import { isFullyValid, type TrustNetwork } from '../wot/network.js';
import type { ValidityLetter } from '../wot/types.js';

/** One SSH key of a certificate: `type base64`, acceptable for the user ID or not. */
export interface UidKey {
  ssh: string;
  ok: boolean;
  primary: boolean;
  /** The key's own fingerprint (the primary's or the subkey's). */
  fpr: string;
  /** Its key flags (src/openpgp/signature.ts KeyFlag), from its newest binding. */
  flags: number;
  /** Its own state at the reference time (a subkey's revocation or expiry, say). */
  status: Status;
}

/** A certificate carrying the user ID. */
export interface UidCert {
  fpr: string;
  /** The binding's letter (gpg's `uid` validity). */
  validity: ValidityLetter;
  /** The key's letter (gpg's `pub` validity). */
  keyValidity: ValidityLetter;
  /** gpg's disabled flag (ownertrust 128). */
  disabled: boolean;
  keys: UidKey[];
}

export interface HomeKeys {
  /** By exact user ID text. */
  byUserId: Map<string, UidCert[]>;
  /** Reference times that give the same answer. */
  window: TimeWindow;
  certificates: number;
}

const DISABLED = 128;

/** The certificate's keys for one of its user IDs, as the original's `0:`/`1:` lines. */
export function uidKeys(ev: EvaluatedCert, uidValid: boolean, disabled: boolean): UidKey[] {
  const usable = uidValid && !disabled && ev.primary.status === 'valid';
  const keys: UidKey[] = [];
  // Listed even when not authentication-capable (a key whose only user ID is revoked has no
  // flags left, say): what is listed but not acceptable leaves the user's files.
  const p = ev.primary;
  if (hasSshForm(p.key)) keys.push({ ssh: sshLineFromKeyPacket(p.key), ok: usable && (p.flags & KeyFlag.Authenticate) !== 0, primary: true, fpr: p.key.fpr, flags: p.flags, status: p.status });
  for (const s of ev.subkeys) {
    if (!hasSshForm(s.key)) continue;
    keys.push({ ssh: sshLineFromKeyPacket(s.key), ok: usable && s.status === 'valid' && (s.flags & KeyFlag.Authenticate) !== 0, primary: false, fpr: s.key.fpr, flags: s.flags, status: s.status });
  }
  return keys;
}

/** Every user ID's certificates and keys, from an evaluated keyring and its network. */
export function tabulate(evaluated: Iterable<EvaluatedCert>, network: TrustNetwork, ownertrust: ReadonlyMap<string, number>): Map<string, UidCert[]> {
  const byUserId = new Map<string, UidCert[]>();
  for (const ev of evaluated) {
    const disabled = ((ownertrust.get(ev.fpr) ?? 0) & DISABLED) !== 0;
    const keyValidity = network.keyValidity(ev.fpr) ?? '-';
    const seen = new Set<string>();
    for (const u of ev.userIds) {
      if (u.component.kind !== 'userid' || seen.has(u.text)) continue;
      seen.add(u.text);
      const validity = network.validity(ev.fpr, u.text) ?? '-';
      const entry: UidCert = { fpr: ev.fpr, validity, keyValidity, disabled, keys: uidKeys(ev, isFullyValid(validity), disabled) };
      const list = byUserId.get(u.text);
      if (list) list.push(entry);
      else byUserId.set(u.text, [entry]);
    }
  }
  return byUserId;
}

export interface ComputeHomeOptions {
  env: Env;
  verifications?: VerificationCache;
  onWarning?: (message: string) => void;
}

/**
 * Reads the GnuPG home `home` (gpg --export, --export-ownertrust, gpg.conf) and computes
 * what every user ID grants at `now`.
 * @throws the errors of readGnupgHome (an unreadable home, a trust model other than pgp).
 */
export async function computeHomeKeys(home: string, now: UnixTime, opts: ComputeHomeOptions): Promise<HomeKeys> {
  const inputs = readGnupgHome(home, { env: opts.env, onWarning: opts.onWarning });
  const keyring = new Keyring();
  const { certs, problems } = readCerts(inputs.source.bytes());
  for (const p of problems) opts.onWarning?.(`${inputs.source.name}: ${p.message}`);
  for (const c of certs) keyring.add(c);
  const verifier = new Verifier({ cache: opts.verifications });
  const evaluated = await evaluateKeyring(keyring, { now, verifier, certifications: false, subkeys: true });
  const { network } = await buildTrustNetwork({ evaluated, verifier }, { ...gnupgTrustOptions(inputs, now), detail: 'validity' });
  return { byUserId: tabulate(evaluated.values(), network, inputs.ownertrust), window: timeWindow(keyring, now), certificates: keyring.size };
}
