/**
 * The web of trust at a reference time: runs GnuPG's model (and our stricter variant),
 * then answers per binding with a validity letter and its explanation: the certification
 * paths that justify it, or why it is not valid. Works on summaries only.
 */
import {
  belowMinLevel,
  CERT_REVOCATION,
  type Counted,
  Graph,
  type Introducer,
  type KeyNode,
  type KeyResult,
  type Model,
  type ResolvedOptions,
  type RunResult,
  runModel,
  scopeAdmits,
  selectCertification,
} from './engine.js';
import { scopeDomain } from './regex.js';
import { TRUST_LETTERS, Trust, type TrustOptions, type ValidityLetter, type VerifyCertifications, type WotCertification, type WotKey } from './types.js';

/** Why a binding has (or lacks) its validity; the wording lives in format.ts. */
export type Reason =
  | { code: 'root' }
  | { code: 'key-not-found' }
  | { code: 'userid-not-found' }
  | { code: 'key-revoked'; time?: number; reason?: string }
  | { code: 'key-expired'; time?: number }
  | { code: 'key-invalid' }
  | { code: 'userid-revoked'; time?: number }
  | { code: 'userid-expired'; time?: number }
  | { code: 'userid-invalid' }
  | { code: 'no-certifications' }
  | { code: 'no-introducer' }
  | { code: 'not-enough'; full: number; marginal: number; completesNeeded: number; marginalsNeeded: number }
  | { code: 'no-ownertrust' }
  | { code: 'stricter-than-gnupg'; gnupgValidity: ValidityLetter };

/** What became of one certification on the binding. */
export type CertVerdict =
  | { code: 'counted'; weight: 'ultimate' | 'full' | 'marginal'; level: number }
  | { code: 'counted-no-trust'; ownertrust: number; level: number }
  | { code: 'issuer-unknown' }
  | { code: 'issuer-revoked' }
  | { code: 'issuer-expired' }
  | { code: 'issuer-invalid' }
  | { code: 'issuer-not-valid'; issuerValidity: ValidityLetter }
  | { code: 'issuer-too-deep'; level: number; maxCertDepth: number }
  | { code: 'not-examined' }
  | { code: 'superseded'; by: number }
  | { code: 'persona' }
  | { code: 'not-verified'; outcome: string; policyReason?: string }
  | { code: 'expired'; expires: number }
  | { code: 'revoked'; revokedAt: number }
  | { code: 'revocation' }
  | { code: 'scope-mismatch'; scope: string; domain?: string; introducer: string; inherited: boolean };

export interface CertificationReport {
  issuer?: string;
  issuerKeyId: string;
  issuerUserId?: string;
  type: number;
  created: number;
  expires?: number;
  trust?: { level: number; amount: number };
  regexes: string[];
  exportable: boolean;
  hashAlgorithm: number;
  verdict: CertVerdict;
}

/** One certification in a path. */
export interface PathEdge {
  issuer: string;
  target: string;
  /** The certified user ID. */
  userId: string;
  created: number;
  expires?: number;
  type: number;
  trust?: { level: number; amount: number };
  /** The issuer's ownertrust when it counted: 6 ultimate, 5 full, 4 marginal. */
  weight: number;
  level: number;
  exportable: boolean;
}

export interface PathNode {
  fingerprint: string;
  /** A user ID to show for the key (the one that made it an introducer, or the target's). */
  userId?: string;
  role: 'root' | 'introducer' | 'target';
  /** For introducers: assigned ownertrust, the one used, and what a trust signature gave. */
  ownertrust?: number;
  assignedOwnertrust?: number;
  trustDepth?: number;
  trustAmount?: number;
  scopes?: string[];
}

export interface Path {
  nodes: PathNode[];
  edges: PathEdge[];
}

export interface Explanation {
  fingerprint: string;
  userId: string;
  /** Our verdict: GnuPG's letter, never better than GnuPG's. */
  validity: ValidityLetter;
  /** The key's letter (best over its user IDs, or r/e/i). */
  keyValidity: ValidityLetter;
  /** What GnuPG 2.2's rules alone give. */
  gnupgValidity: ValidityLetter;
  /** Fully valid: `u` or `f`. */
  valid: boolean;
  model: Model;
  referenceTime: number;
  level?: number;
  counts?: { full: number; marginal: number; completesNeeded: number; marginalsNeeded: number };
  reasons: Reason[];
  /** Paths from roots that justify the validity (certifications that counted with weight). */
  paths: Path[];
  /** Paths not listed because of the cap. */
  morePaths: number;
  certifications: CertificationReport[];
}

/** One hop of a user-supplied path: the issuer's certification on the next key. */
export interface PathHop {
  issuer: string;
  target: string;
  /** The certified user ID that was examined (for the last hop: the one asked about). */
  userId?: string;
  /** What became of the certification; `no-certification` when there is none. */
  verdict: CertVerdict | { code: 'no-certification' };
  /** Whether the target, when an intermediate key, is itself an introducer. */
  targetIsIntroducer?: boolean;
}

export interface PathCheck {
  fingerprints: string[];
  userId: string;
  /** Every hop counted and the first key is a root. */
  pathHolds: boolean;
  firstIsRoot: boolean;
  hops: PathHop[];
  binding: Explanation;
}

export interface Binding {
  fingerprint: string;
  userId: string;
  validity: ValidityLetter;
  keyValidity: ValidityLetter;
  gnupgValidity: ValidityLetter;
  valid: boolean;
}

const MAX_PATHS = 16;

const letterRank: Record<ValidityLetter, number> = { u: 6, f: 5, m: 4, n: 3, q: 2, e: 1, '-': 0, r: 0, i: 0 };

export function isFullyValid(letter: ValidityLetter): boolean {
  return letter === 'u' || letter === 'f';
}

function resolve(opts: TrustOptions): ResolvedOptions {
  const int = (v: number | undefined, dflt: number, min: number, max: number) => (v === undefined ? dflt : Math.min(max, Math.max(min, Math.trunc(v))));
  return {
    now: opts.now,
    marginalsNeeded: int(opts.marginalsNeeded, 3, 1, 255),
    completesNeeded: int(opts.completesNeeded, 1, 1, 255),
    maxCertDepth: int(opts.maxCertDepth, 5, 0, 255),
    minCertLevel: int(opts.minCertLevel, 2, 0, 3),
    trustSignatures: opts.trustSignatures ?? true,
    detail: opts.detail ?? 'explanations',
  };
}

/**
 * A computed web of trust. Build it with `TrustNetwork.compute`; queries afterwards are
 * lookups. Not valid is an answer: every query returns a letter and its explanation.
 */
export class TrustNetwork {
  private constructor(
    readonly graph: Graph,
    readonly options: ResolvedOptions,
    readonly model: Model,
    readonly roots: string[],
    /** Roots named but not in the keyring. */
    readonly missingRoots: string[],
    private readonly gnupg: RunResult,
    private readonly strict: RunResult | undefined,
  ) {}

  /**
   * Computes validity for every key. `verify` is called level by level with the
   * introducers whose `unchecked` certifications must be verified first; without it,
   * unchecked certifications never count.
   */
  static async compute(keys: Iterable<WotKey>, opts: TrustOptions, verify?: VerifyCertifications): Promise<TrustNetwork> {
    const graph = new Graph(keys);
    const options = resolve(opts);
    const ownertrust = new Map<string, number>();
    for (const [fpr, v] of opts.ownertrust ?? []) ownertrust.set(fpr.toUpperCase(), v);
    const named = [...opts.roots.map((r) => r.toUpperCase())];
    for (const [fpr, v] of ownertrust) if ((v & 15) === Trust.Ultimate) named.push(fpr);
    const roots: string[] = [];
    const missing: string[] = [];
    for (const fpr of named) {
      if (roots.includes(fpr) || missing.includes(fpr)) continue;
      (graph.byFpr.has(fpr) ? roots : missing).push(fpr);
    }
    const model = opts.model ?? 'strict';
    const gnupg = await runModel(graph, roots, ownertrust, options, 'gnupg', verify);
    // The models differ only in how scopes apply; with no scope anywhere the strict run is GnuPG's.
    const strict = model !== 'strict' ? undefined : graph.scoped ? await runModel(graph, roots, ownertrust, options, 'strict', verify) : { ...gnupg, model: 'strict' as const };
    return new TrustNetwork(graph, options, model, roots, missing, gnupg, strict);
  }

  private uidLetter(run: RunResult, node: KeyNode, index: number): ValidityLetter {
    const uid = node.uids[index].uid;
    if (uid.status === 'revoked') return 'r';
    if (uid.status === 'expired') return 'e';
    if (node.key.status === 'revoked') return 'r';
    if (node.key.status === 'expired') return 'e';
    if (node.key.status === 'invalid' || uid.status === 'invalid') return '-';
    const v = run.keys.get(node.key.fpr.toUpperCase())?.uids[index].validity ?? 0;
    return TRUST_LETTERS[v];
  }

  private keyLetterIn(run: RunResult, node: KeyNode): ValidityLetter {
    if (node.key.status === 'revoked') return 'r';
    if (node.key.status === 'expired') return 'e';
    if (node.key.status === 'invalid') return 'i';
    const r = run.keys.get(node.key.fpr.toUpperCase());
    let best = 0;
    if (r) r.uids.forEach((u, i) => {
      // Roots keep ultimate on every user ID; others only have records for live ones.
      if (u.validity > best && (r.introducer?.root || node.uids[i].uid.status === 'valid')) best = u.validity;
    });
    return TRUST_LETTERS[best];
  }

  /** The run whose verdict stands for this user ID: the stricter one, or GnuPG's. */
  private deciding(node: KeyNode, index: number): RunResult {
    if (!this.strict) return this.gnupg;
    const g = letterRank[this.uidLetter(this.gnupg, node, index)];
    const s = letterRank[this.uidLetter(this.strict, node, index)];
    return s <= g ? this.strict : this.gnupg;
  }

  private finalLetter(node: KeyNode, index: number): ValidityLetter {
    return this.uidLetter(this.deciding(node, index), node, index);
  }

  /** The key's letter: r/e/i, else the best of its user IDs (ours, or GnuPG's rules alone). */
  keyValidity(fpr: string, which: 'final' | 'gnupg' = 'final'): ValidityLetter | undefined {
    const node = this.graph.byFpr.get(fpr.toUpperCase());
    if (!node) return undefined;
    const base = this.keyLetterIn(this.gnupg, node);
    if (which === 'gnupg' || base === 'r' || base === 'e' || base === 'i') return base;
    // Best over the final user-ID letters, computed like gpg's record maximum.
    let best: ValidityLetter = '-';
    node.uids.forEach((u, i) => {
      const run = this.deciding(node, i);
      const r = run.keys.get(node.key.fpr.toUpperCase());
      const v = r?.uids[i].validity ?? 0;
      if (!(r?.introducer?.root || u.uid.status === 'valid')) return;
      const letter = TRUST_LETTERS[v];
      if (letterRank[letter] > letterRank[best]) best = letter;
    });
    return best;
  }

  /** Validity letter of a binding; undefined when the key or user ID is not in the keyring. */
  validity(fpr: string, userId: string): ValidityLetter | undefined {
    const node = this.graph.byFpr.get(fpr.toUpperCase());
    const index = node?.uids.findIndex((u) => !u.uid.attribute && u.uid.text === userId) ?? -1;
    if (!node || index < 0) return undefined;
    return this.finalLetter(node, index);
  }

  /** Every (key, user ID) binding with its letters, in keyring order. */
  bindings(): Binding[] {
    const out: Binding[] = [];
    for (const node of this.graph.keys) {
      const keyValidity = this.keyValidity(node.key.fpr)!;
      node.uids.forEach((u, i) => {
        if (u.uid.attribute) return;
        const validity = this.finalLetter(node, i);
        out.push({
          fingerprint: node.key.fpr.toUpperCase(),
          userId: u.uid.text,
          validity,
          keyValidity,
          gnupgValidity: this.uidLetter(this.gnupg, node, i),
          valid: isFullyValid(validity),
        });
      });
    }
    return out;
  }

  /** Keys holding a user ID exactly equal to `userId`. */
  keysWithUserId(userId: string): string[] {
    const out: string[] = [];
    for (const node of this.graph.keys) if (node.uids.some((u) => !u.uid.attribute && u.uid.text === userId)) out.push(node.key.fpr.toUpperCase());
    return out;
  }

  key(fpr: string): WotKey | undefined {
    return this.graph.byFpr.get(fpr.toUpperCase())?.key;
  }

  /** A user ID to show for a key: the one that made it an introducer, else its first valid one. */
  displayUserId(fpr: string, run?: RunResult): string | undefined {
    const node = this.graph.byFpr.get(fpr.toUpperCase());
    if (!node) return undefined;
    const via = (run ?? this.strict ?? this.gnupg).keys.get(node.key.fpr.toUpperCase())?.introducer?.viaUid;
    if (via !== undefined) return node.uids[via].uid.text;
    return (node.uids.find((u) => u.uid.status === 'valid') ?? node.uids[0])?.uid.text;
  }

  /** The validity of a binding and why. Never throws for an unknown key or user ID: that is a reason. */
  explain(fpr: string, userId: string): Explanation {
    // Computed for the letters only, certifications that did not decide them were never verified.
    if (this.options.detail === 'validity') throw new Error("explanations need a network computed with detail 'explanations'");
    const fingerprint = fpr.toUpperCase();
    const node = this.graph.byFpr.get(fingerprint);
    const base = { fingerprint, userId, model: this.model, referenceTime: this.options.now, paths: [] as Path[], morePaths: 0, certifications: [] as CertificationReport[] };
    if (!node) return { ...base, validity: '-', keyValidity: '-', gnupgValidity: '-', valid: false, reasons: [{ code: 'key-not-found' }] };
    const keyValidity = this.keyValidity(fingerprint)!;
    const index = node.uids.findIndex((u) => !u.uid.attribute && u.uid.text === userId);
    if (index < 0) return { ...base, validity: '-', keyValidity, gnupgValidity: '-', valid: false, reasons: [{ code: 'userid-not-found' }] };
    const run = this.deciding(node, index);
    const validity = this.uidLetter(run, node, index);
    const gnupgValidity = this.uidLetter(this.gnupg, node, index);
    const result = run.keys.get(fingerprint);
    const state = result?.uids[index];
    const uid = node.uids[index].uid;
    const reasons: Reason[] = [];
    const key = node.key;
    if (result?.introducer?.root) reasons.push({ code: 'root' });
    if (key.status === 'revoked') reasons.push({ code: 'key-revoked', time: key.revocation?.time, reason: key.revocation?.reason });
    else if (key.status === 'expired') reasons.push({ code: 'key-expired', time: key.expires });
    else if (key.status === 'invalid') reasons.push({ code: 'key-invalid' });
    if (uid.status === 'revoked') reasons.push({ code: 'userid-revoked', time: uid.revokedAt });
    else if (uid.status === 'expired') reasons.push({ code: 'userid-expired', time: uid.expires });
    else if (uid.status === 'invalid') reasons.push({ code: 'userid-invalid' });

    const certifications = this.reportCertifications(run, node, index);
    const live = key.status === 'valid' && uid.status === 'valid' && !result?.introducer?.root;
    let counts: Explanation['counts'];
    if (live) {
      counts = { full: state?.full ?? 0, marginal: state?.marginal ?? 0, completesNeeded: this.options.completesNeeded, marginalsNeeded: this.options.marginalsNeeded };
      if (!isFullyValid(validity)) {
        if (uid.certifications.length === 0) reasons.push({ code: 'no-certifications' });
        else if (!state || state.validity === 0) reasons.push({ code: 'no-introducer' });
        else if (state.full === 0 && state.marginal === 0) reasons.push({ code: 'no-ownertrust' });
        else reasons.push({ code: 'not-enough', ...counts });
      }
    }
    if (letterRank[validity] < letterRank[gnupgValidity]) reasons.push({ code: 'stricter-than-gnupg', gnupgValidity });

    let paths: Path[] = [];
    let morePaths = 0;
    if (live && state && state.validity >= Trust.Marginal) {
      const all = this.pathsTo(run, fingerprint, index, 0);
      all.sort((a, b) => a.edges.length - b.edges.length || b.edges[b.edges.length - 1].weight - a.edges[a.edges.length - 1].weight);
      paths = all.slice(0, MAX_PATHS);
      morePaths = all.length - paths.length;
    }
    return {
      ...base,
      validity,
      keyValidity,
      gnupgValidity,
      valid: isFullyValid(validity),
      level: live ? state?.level : undefined,
      counts,
      reasons,
      paths,
      morePaths,
      certifications,
    };
  }

  /**
   * Checks a path given as fingerprints (root first, target last) for `userId` on the
   * target: whether the first key is a root and each certification along it counted.
   */
  checkPath(fingerprints: string[], userId: string): PathCheck {
    const fprs = fingerprints.map((f) => f.toUpperCase());
    const target = fprs[fprs.length - 1];
    const binding = this.explain(target, userId);
    const run = this.strict ?? this.gnupg;
    const firstIsRoot = this.roots.includes(fprs[0]);
    const hops: PathHop[] = [];
    for (let i = 1; i < fprs.length; i++) {
      const issuer = fprs[i - 1];
      const to = fprs[i];
      const last = i === fprs.length - 1;
      const node = this.graph.byFpr.get(to);
      const candidates = last ? [userId] : (node?.uids.filter((u) => !u.uid.attribute).map((u) => u.uid.text) ?? []);
      let best: PathHop | undefined;
      for (const text of candidates) {
        const e = last ? binding : this.explain(to, text);
        const report = e.certifications.find((c) => c.issuer === issuer);
        if (!report) continue;
        const hop: PathHop = { issuer, target: to, userId: text, verdict: report.verdict };
        if (!best || (report.verdict.code === 'counted' && best.verdict.code !== 'counted')) best = hop;
      }
      const hop = best ?? { issuer, target: to, userId: last ? userId : undefined, verdict: { code: 'no-certification' as const } };
      if (!last) hop.targetIsIntroducer = run.keys.get(to)?.introducer !== undefined && run.keys.get(to)!.introducer!.level < this.options.maxCertDepth;
      hops.push(hop);
    }
    const pathHolds = firstIsRoot && fprs.length >= 2 && hops.every((h) => h.verdict.code === 'counted' && h.targetIsIntroducer !== false);
    return { fingerprints: fprs, userId, pathHolds, firstIsRoot, hops, binding };
  }

  private introducerNode(run: RunResult, fpr: string): PathNode {
    const intro = run.keys.get(fpr)?.introducer;
    return {
      fingerprint: fpr,
      userId: this.displayUserId(fpr, run),
      role: intro?.root ? 'root' : 'introducer',
      ownertrust: intro?.ownertrust,
      assignedOwnertrust: intro?.assigned,
      trustDepth: intro && !intro.root && intro.tsig ? intro.trustDepth : undefined,
      trustAmount: intro && !intro.root && intro.tsig ? intro.trustValue : undefined,
      scopes: intro && intro.scopes.length > 0 ? (this.model === 'gnupg' ? (intro.gnupgScope ? [intro.gnupgScope] : []) : intro.scopes) : undefined,
    };
  }

  /** Paths from roots to a user ID, through the certifications that counted with weight. */
  private pathsTo(run: RunResult, fpr: string, uidIndex: number, guard: number): Path[] {
    const node = this.graph.byFpr.get(fpr)!;
    const state = run.keys.get(fpr)?.uids[uidIndex];
    if (!state || guard > 64) return [];
    const out: Path[] = [];
    const target: PathNode = { fingerprint: fpr, userId: node.uids[uidIndex].uid.text, role: 'target' };
    for (const c of state.counted) {
      if (c.weight < Trust.Marginal) continue;
      const edge = this.edgeOf(c, fpr, node.uids[uidIndex].uid.text);
      const issuer = run.keys.get(c.issuer)?.introducer;
      if (!issuer) continue;
      if (issuer.root) {
        out.push({ nodes: [this.introducerNode(run, c.issuer), target], edges: [edge] });
      } else if (issuer.viaUid !== undefined) {
        for (const p of this.pathsTo(run, c.issuer, issuer.viaUid, guard + 1)) {
          const nodes = p.nodes.slice(0, -1);
          nodes.push(this.introducerNode(run, c.issuer), target);
          out.push({ nodes, edges: [...p.edges, edge] });
          if (out.length > MAX_PATHS * 4) return out;
        }
      }
    }
    return out;
  }

  private edgeOf(c: Counted, target: string, userId: string): PathEdge {
    return {
      issuer: c.issuer,
      target,
      userId,
      created: c.cert.created,
      expires: c.cert.expires,
      type: c.cert.type,
      trust: c.cert.trust,
      weight: c.weight,
      level: c.level,
      exportable: c.cert.exportable,
    };
  }

  /** What became of each certification on the user ID, under the deciding run's rules. */
  private reportCertifications(run: RunResult, node: KeyNode, index: number): CertificationReport[] {
    const u = node.uids[index];
    const self = node.key.fpr.toUpperCase();
    const result = run.keys.get(self);
    const state = result?.uids[index];
    const counted = new Map<WotCertification, Counted>();
    for (const c of state?.counted ?? []) counted.set(c.cert, c);
    const out: CertificationReport[] = [];
    const selections = new Map<string, ReturnType<typeof selectCertification>>();
    for (const cert of u.uid.certifications) {
      const issuer = cert.issuer?.toUpperCase();
      if (issuer === self) continue;
      const report: CertificationReport = {
        issuer,
        issuerKeyId: cert.issuerKeyId,
        issuerUserId: issuer ? this.displayUserId(issuer, run) : undefined,
        type: cert.type,
        created: cert.created,
        expires: cert.expires,
        trust: cert.trust,
        regexes: cert.regexes,
        exportable: cert.exportable,
        hashAlgorithm: cert.hashAlgorithm,
        verdict: { code: 'issuer-unknown' },
      };
      out.push(report);
      const hit = counted.get(cert);
      if (hit) {
        report.verdict =
          hit.weight >= Trust.Marginal
            ? { code: 'counted', weight: hit.weight === Trust.Ultimate ? 'ultimate' : hit.weight === Trust.Full ? 'full' : 'marginal', level: hit.level }
            : { code: 'counted-no-trust', ownertrust: hit.weight, level: hit.level };
        continue;
      }
      report.verdict = this.whyNot(run, node, index, cert, issuer, result, selections);
    }
    return out;
  }

  private whyNot(
    run: RunResult,
    node: KeyNode,
    index: number,
    cert: WotCertification,
    issuer: string | undefined,
    result: KeyResult | undefined,
    selections: Map<string, ReturnType<typeof selectCertification>>,
  ): CertVerdict {
    if (!issuer) return { code: 'issuer-unknown' };
    const issuerNode = this.graph.byFpr.get(issuer);
    if (!issuerNode) return { code: 'issuer-unknown' };
    if (cert.type === CERT_REVOCATION) return { code: 'revocation' };
    // Per-certification facts first: they hold whoever the issuer is.
    if (cert.outcome !== 'good' && cert.outcome !== 'unchecked') return { code: 'not-verified', outcome: cert.outcome, policyReason: cert.policyReason };
    if (belowMinLevel(cert, this.options.minCertLevel)) return { code: 'persona' };
    if (issuerNode.key.status === 'revoked') return { code: 'issuer-revoked' };
    if (issuerNode.key.status === 'expired') return { code: 'issuer-expired' };
    if (issuerNode.key.status === 'invalid') return { code: 'issuer-invalid' };
    const intro: Introducer | undefined = run.keys.get(issuer)?.introducer;
    if (!intro) return { code: 'issuer-not-valid', issuerValidity: this.keyLetterIn(run, issuerNode) };
    if (intro.level >= this.options.maxCertDepth) return { code: 'issuer-too-deep', level: intro.level, maxCertDepth: this.options.maxCertDepth };
    if (result?.doneAt !== undefined && result.doneAt < intro.level) return { code: 'not-examined' };
    if (cert.outcome === 'unchecked') return { code: 'not-verified', outcome: 'unchecked' };
    let sel = selections.get(issuer);
    if (!sel) {
      sel = selectCertification(node.uids[index].byIssuer.get(issuer) ?? [], this.options);
      selections.set(issuer, sel);
    }
    if (sel.chosen !== cert) {
      if (sel.chosen?.type === CERT_REVOCATION) return { code: 'revoked', revokedAt: sel.chosen.created };
      return { code: 'superseded', by: sel.chosen?.created ?? 0 };
    }
    if (cert.expires !== undefined && cert.expires <= this.options.now) return { code: 'expired', expires: cert.expires };
    const text = node.uids[index].uid.text;
    if (!scopeAdmits(this.graph, intro, text, 'gnupg')) {
      const scope = intro.gnupgScope ?? '';
      return { code: 'scope-mismatch', scope, domain: scopeDomain(scope), introducer: issuer, inherited: false };
    }
    if (run.model === 'strict' && !scopeAdmits(this.graph, intro, text, 'strict')) {
      const failing = intro.scopes.find((s) => !scopeAdmits(this.graph, { ...intro, scopes: [s] }, text, 'strict')) ?? intro.scopes[0];
      return { code: 'scope-mismatch', scope: failing, domain: scopeDomain(failing), introducer: issuer, inherited: failing !== intro.gnupgScope };
    }
    // Examined, admitted, yet not counted: the user ID or key was not live when scanned.
    return { code: 'not-examined' };
  }
}
