/**
 * The one way to build a trust network: from evaluated certificates (verified lazily
 * through a Verifier) or from summaries already in hand (a snapshot), with roots named
 * by fingerprint or key ID. Pure: no files, no gpg, no store; callers bring the inputs.
 */
import type { EvaluatedCert } from '../cert/types.js';
import type { Keyring } from '../keyring/keyring.js';
import { keyIdOf } from '../openpgp/fingerprint.js';
import type { Verifier } from '../verify/verifier.js';
import { type BuildOptions, EvaluatedWeb, evaluateWeb } from './from-cert.js';
import { TrustNetwork } from './network.js';
import type { TrustOptions, VerifyCertifications, WotCertification, WotKey } from './types.js';

/** What a network is built from. */
export type TrustInput =
  /** Evaluated certificates whose unchecked certifications the verifier checks when the engine needs them. */
  | { evaluated: Map<string, EvaluatedCert> | EvaluatedWeb; verifier: Verifier }
  /** Summaries; `verify` is asked for any certification still unchecked (it may throw to refuse). */
  | { keys: readonly WotKey[]; verify?: VerifyCertifications };

export interface BuildTrustOptions {
  /** Certifications that must never count whatever was evaluated (a server's foreign local certifications, say). */
  exclude?: (certification: WotCertification, key: WotKey) => boolean;
  /**
   * Certifications to add, by key fingerprint and user ID text: already judged (their
   * outcome is final), never verified. The keys they go on are copied, not changed, so
   * the same evaluated web can serve computations with and without them.
   */
  extra?: ReadonlyMap<string, ReadonlyMap<string, WotCertification[]>>;
}

export interface BuiltNetwork {
  network: TrustNetwork;
  /** Fingerprints of every certificate, in input order. */
  fingerprints: string[];
  /** Roots that name no certificate present. */
  unknownRoots: string[];
  /** The evaluated web, when built from evaluated certificates (its `unchecked` counts what was never verified). */
  web?: EvaluatedWeb;
}

/**
 * Roots named by key ID (16 hex digits) or fingerprint, resolved against the certificates
 * present: a key ID names every certificate that has it.
 */
export function resolveRoots(roots: readonly string[], fingerprints: readonly string[]): { resolved: string[]; unknown: string[] } {
  const resolved: string[] = [];
  const unknown: string[] = [];
  const present = new Set(fingerprints);
  for (const r of roots) {
    if (r.length === 16) {
      const hits = fingerprints.filter((f) => keyIdOf(f) === r);
      if (hits.length === 0) unknown.push(r);
      resolved.push(...hits);
    } else {
      if (!present.has(r)) unknown.push(r);
      // An absent fingerprint stays a root: the network reports it among its missing roots.
      resolved.push(r);
    }
  }
  return { resolved, unknown };
}

/**
 * Builds the trust network of `input` with `trust`, whose roots may be key IDs (upper-case
 * hex; resolved against the certificates present).
 */
export async function buildTrustNetwork(input: TrustInput, trust: TrustOptions, opts: BuildTrustOptions = {}): Promise<BuiltNetwork> {
  let keys: readonly WotKey[];
  let verify: VerifyCertifications | undefined;
  let web: EvaluatedWeb | undefined;
  if ('evaluated' in input) {
    web = input.evaluated instanceof EvaluatedWeb ? input.evaluated : new EvaluatedWeb(input.evaluated);
    keys = web.keys;
    verify = web.verifyHook(input.verifier);
  } else {
    keys = input.keys;
    verify = input.verify;
  }
  if (opts.exclude) exclude(keys, opts.exclude);
  if (opts.extra) keys = withExtra(keys, opts.extra);
  const fingerprints = keys.map((k) => k.fpr);
  const { resolved, unknown } = resolveRoots(trust.roots, fingerprints);
  const network = await TrustNetwork.compute(keys, { ...trust, roots: resolved }, verify);
  return { network, fingerprints, unknownRoots: unknown, web };
}

function withExtra(keys: readonly WotKey[], extra: NonNullable<BuildTrustOptions['extra']>): WotKey[] {
  return keys.map((k) => {
    const byUid = extra.get(k.fpr);
    if (!byUid) return k;
    return { ...k, userIds: k.userIds.map((u) => (u.attribute || !byUid.has(u.text) ? u : { ...u, certifications: [...u.certifications, ...(byUid.get(u.text) ?? [])] })) };
  });
}

/** Drops excluded certifications in place (a user ID's list is replaced only when it loses one). */
function exclude(keys: readonly WotKey[], excluded: NonNullable<BuildTrustOptions['exclude']>): void {
  for (const k of keys) {
    for (const u of k.userIds) {
      if (u.certifications.some((c) => excluded(c, k))) u.certifications = u.certifications.filter((c) => !excluded(c, k));
    }
  }
}

/**
 * Evaluates a keyring at `trust.now` and builds its trust network, verifying only the
 * certifications made by introducers.
 */
export async function computeKeyringTrust(keyring: Keyring, trust: TrustOptions, opts: BuildOptions): Promise<{ network: TrustNetwork; web: EvaluatedWeb }> {
  const web = await evaluateWeb(keyring, trust.now, opts);
  const { network } = await buildTrustNetwork({ evaluated: web, verifier: opts.verifier }, trust);
  return { network, web };
}
