/**
 * A web of trust from certificate sources (keyring files, a GnuPG home's export), reusing a stored snapshot of the evaluated
 * summaries when the sources are byte for byte unchanged and the reference time lies in
 * the snapshot's window (src/cert/time-window.ts). A snapshot missing a verification the
 * computation needs (other roots or ownertrust reach other introducers) is not an error:
 * the sources are parsed and evaluated again, and the snapshot replaced. The I/O around
 * the pure engine (src/wot/): reading sources, parsing packets, the snapshot store.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_POLICY, type Policy } from '../cert/policy.js';
import { type TimeWindow, timeWindow } from '../cert/time-window.js';
import { InputError, type MsError } from '../errors.js';
import { Keyring } from '../keyring/keyring.js';
import { readCerts } from '../openpgp/cert.js';
import type { SnapshotStore } from '../store/types.js';
import { codeDigest, EVALUATION_CODE } from '../util/code-digest.js';
import { Verifier } from '../verify/verifier.js';
import type { WebCache } from './cache.js';
import { buildTrustNetwork } from '../wot/build.js';
import { evaluateWeb } from '../wot/from-cert.js';
import { type Binding, isFullyValid, type TrustNetwork } from '../wot/network.js';
import type { CertSource } from './source.js';
import { decodeSummaries, encodeSummaries, SNAPSHOT_FORMAT } from '../wot/snapshot.js';
import { type TrustOptions, VALIDITY_LETTERS, type WotKey } from '../wot/types.js';

export interface ComputeOptions {
  /** Made only when packets must be verified (a snapshot hit verifies nothing). */
  verifier: () => Verifier;
  snapshots?: SnapshotStore;
  policy?: Policy;
  /** Told about what was skipped while reading a source. */
  onProblem?: (source: string, problem: MsError) => void;
}

export interface ComputedWeb {
  network: TrustNetwork;
  /** Fingerprints of every certificate, in keyring order. */
  fingerprints: string[];
  /** Roots that name no certificate present. */
  unknownRoots: string[];
  /** `snapshot`: nothing was parsed; `packets`: the sources were parsed and evaluated. */
  from: 'snapshot' | 'packets';
  /** Certifications never verified because nothing needed them (packets only). */
  unchecked?: number;
  /** Reference times that give the same result; undefined when the reference time is one of the certificates' own times. */
  window?: TimeWindow;
  /** The snapshot key of the inputs as computed from, when snapshots are in use. */
  key?: Buffer;
}

/** Thrown by the snapshot's verification hook: the stored summaries do not suffice. */
class NeedsPackets extends Error {}

/**
 * What the evaluation is made of: a digest of the code that parses, evaluates and computes
 * trust (src/util/code-digest.ts), so a snapshot or result made by other code never matches.
 */
function evaluationCode(): Buffer {
  return codeDigest(EVALUATION_CODE);
}

/** Names the inputs and the evaluation rules: equal keys mean equal summaries at any time in the window. */
export function snapshotKey(sources: readonly CertSource[], policy: Policy): Buffer {
  const h = createHash('sha256');
  h.update(`${SNAPSHOT_FORMAT}\n${JSON.stringify(policy)}\n`).update(evaluationCode());
  for (const s of sources) h.update(s.digest);
  return h.digest();
}

/**
 * Computes the web of trust of `sources` with `trust`, whose roots may be key IDs
 * (uppercase hex; resolved against the certificates read).
 */
export async function computeWeb(sources: readonly CertSource[], trust: TrustOptions, opts: ComputeOptions): Promise<ComputedWeb> {
  const policy = opts.policy ?? DEFAULT_POLICY;
  const key = opts.snapshots ? snapshotKey(sources, policy) : undefined;
  if (opts.snapshots && key) {
    const stored = await readSnapshot(opts.snapshots, key, trust.now);
    if (stored) {
      try {
        const built = await buildTrustNetwork(
          {
            keys: stored.keys,
            verify: async () => {
              throw new NeedsPackets();
            },
          },
          trust,
        );
        return { network: built.network, fingerprints: built.fingerprints, unknownRoots: built.unknownRoots, from: 'snapshot', window: stored.window, key };
      } catch (err) {
        if (!(err instanceof NeedsPackets)) throw err;
      }
    }
  }

  const keyring = new Keyring();
  for (const s of sources) {
    const bytes = s.bytes();
    const { certs, problems } = readCerts(bytes);
    for (const p of problems) opts.onProblem?.(s.name, p);
    if (certs.length === 0 && bytes.length > 0) throw new InputError('MS_WOT_KEYRING', `${s.name} holds no certificates`);
    for (const c of certs) keyring.add(c);
  }
  const verifier = opts.verifier();
  const web = await evaluateWeb(keyring, trust.now, { verifier, policy });
  const { network, fingerprints, unknownRoots: unknown } = await buildTrustNetwork({ evaluated: web, verifier }, trust);
  const window = timeWindow(keyring, trust.now);
  // Named by the digests as they are now that the bytes are read: what was parsed.
  const parsedKey = opts.snapshots ? snapshotKey(sources, policy) : undefined;
  if (opts.snapshots && parsedKey && window) await opts.snapshots.put(parsedKey, window, encodeSummaries(web.keys));
  return { network, fingerprints, unknownRoots: unknown, from: 'packets', unchecked: web.unchecked, window, key: parsedKey };
}

/** Every binding's letters, and what the computation noticed: what a stored result holds. */
export interface ListedBindings {
  bindings: Binding[];
  unknownRoots: string[];
  missingRoots: string[];
  /** `result`: a stored result for the same inputs and trust options; otherwise as in ComputedWeb. */
  from: 'result' | ComputedWeb['from'];
  /** Set when computed: the computation behind the list. */
  computed?: ComputedWeb;
}

/**
 * Every binding's letters. Validity is recomputed only when the inputs, the trust
 * options or the reference time's window change: otherwise the stored result is read.
 */
export async function listBindings(sources: readonly CertSource[], trust: TrustOptions, opts: ComputeOptions): Promise<ListedBindings> {
  const key = opts.snapshots ? resultKey(snapshotKey(sources, opts.policy ?? DEFAULT_POLICY), trust) : undefined;
  if (opts.snapshots && key) {
    const stored = await opts.snapshots.get(key, trust.now);
    if (stored) {
      const result = readResult(stored.data);
      // Unreadable: recompute and replace it.
      if (result) return { ...result, from: 'result' };
    }
  }
  const computed = await computeWeb(sources, { ...trust, detail: 'validity' }, opts);
  const listed = { bindings: computed.network.bindings(), unknownRoots: computed.unknownRoots, missingRoots: computed.network.missingRoots };
  if (opts.snapshots && computed.key && computed.window) {
    await opts.snapshots.put(resultKey(computed.key, trust), computed.window, Buffer.from(JSON.stringify({ format: RESULT_FORMAT, ...listed })));
  }
  return { ...listed, from: computed.from, computed };
}

const RESULT_FORMAT = 'wot-bindings-1';
const LETTERS = new Set<string>(VALIDITY_LETTERS);

/** A stored result, if it is one of this format and every binding is well formed. */
function readResult(data: Buffer): Omit<ListedBindings, 'from'> | undefined {
  try {
    const r = JSON.parse(data.toString('utf8')) as { format?: unknown } & Omit<ListedBindings, 'from'>;
    const strings = (xs: unknown) => Array.isArray(xs) && xs.every((x) => typeof x === 'string');
    if (r.format !== RESULT_FORMAT || !Array.isArray(r.bindings) || !strings(r.unknownRoots) || !strings(r.missingRoots)) return undefined;
    const wellFormed = (b: Binding) =>
      typeof b.fingerprint === 'string' && typeof b.userId === 'string' && LETTERS.has(b.validity) && LETTERS.has(b.keyValidity) && LETTERS.has(b.gnupgValidity) && b.valid === isFullyValid(b.validity);
    if (!r.bindings.every(wellFormed)) return undefined;
    return { bindings: r.bindings, unknownRoots: r.unknownRoots, missingRoots: r.missingRoots };
  } catch {
    return undefined;
  }
}

/** Names the inputs and every trust option that the letters depend on. */
function resultKey(inputs: Buffer, trust: TrustOptions): Buffer {
  const { roots, ownertrust, marginalsNeeded, completesNeeded, maxCertDepth, minCertLevel, model, trustSignatures } = trust;
  // Every option but the time (the window covers it) and the detail (letters are the same): a new option fails to compile here until it is keyed.
  const options = {
    roots,
    ownertrust: [...(ownertrust ?? [])].sort(),
    marginalsNeeded,
    completesNeeded,
    maxCertDepth,
    minCertLevel,
    model: model ?? 'strict',
    trustSignatures: trustSignatures ?? true,
  } satisfies Record<Exclude<keyof TrustOptions, 'now' | 'detail'>, unknown>;
  return createHash('sha256').update('bindings\n').update(inputs).update(JSON.stringify(options)).digest();
}

/** A stored snapshot, or undefined when there is none or it cannot be read (then it is recomputed). */
async function readSnapshot(store: SnapshotStore, key: Buffer, at: number): Promise<{ keys: WotKey[]; window: TimeWindow } | undefined> {
  const stored = await store.get(key, at);
  if (!stored) return undefined;
  try {
    return { keys: decodeSummaries(stored.data), window: stored.window };
  } catch {
    return undefined;
  }
}

/** Compute options over a cache: its snapshots, and a verifier (made only when packets need verifying) over its verification cache. */
export function cachedComputeOptions(cache: WebCache, onProblem?: ComputeOptions['onProblem']): ComputeOptions & { verifierMade(): Verifier | undefined } {
  const { store } = cache;
  let verifier: Verifier | undefined;
  return {
    snapshots: store?.snapshots,
    // Verification runs on libuv's thread pool (async node:crypto): no workers to start for one run.
    verifier: () => {
      verifier = new Verifier({ cache: store?.verifications });
      return verifier;
    },
    onProblem,
    verifierMade: () => verifier,
  };
}
