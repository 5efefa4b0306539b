/**
 * GnuPG's classic "pgp" trust model (trustdb.c validate_keys), level by level, on
 * summaries. Each level scans only the keys its introducers certified (an index by
 * issuer), verifies only those introducers' certifications (lazily, through a hook),
 * and keeps for every user ID the certifications that counted, so answers can be
 * explained. One run applies one rule set: `gnupg` (GnuPG 2.2 exactly) or `strict`
 * (scopes bind the whole delegation chain). No packets, no I/O.
 */
import { type CompiledRegex, compileRegex, hasControlCharacters, regexMatches } from './regex.js';
import { Trust, type VerifyCertifications, type WotCertification, type WotKey, type WotUserId } from './types.js';

export const CERT_REVOCATION = 0x30;
export const isCertificationClass = (t: number) => t >= 0x10 && t <= 0x13;

/** Settings with defaults applied. */
export interface ResolvedOptions {
  now: number;
  marginalsNeeded: number;
  completesNeeded: number;
  maxCertDepth: number;
  minCertLevel: number;
  /** false: GnuPG's classic model (trust signatures count as plain certifications). */
  trustSignatures: boolean;
  detail: 'explanations' | 'validity';
}

export interface UidNode {
  uid: WotUserId;
  key: KeyNode;
  index: number;
  /** Third-party certifications by issuer fingerprint, in packet order. */
  byIssuer: Map<string, WotCertification[]>;
}

export interface KeyNode {
  key: WotKey;
  index: number;
  uids: UidNode[];
}

/** The keys, indexed for the level scans. Shared by the runs of one computation. */
export class Graph {
  readonly keys: KeyNode[] = [];
  readonly byFpr = new Map<string, KeyNode>();
  /** Keys with a user ID certified by the issuer (fingerprint). */
  readonly certifiedBy = new Map<string, KeyNode[]>();
  /** Issuers whose certifications have been verified. */
  readonly verified = new Set<string>();
  /** Whether any trust signature carries a scope: without one the two models agree everywhere. */
  readonly scoped: boolean;
  private readonly regexCache = new Map<string, CompiledRegex>();

  constructor(keys: Iterable<WotKey>) {
    let scoped = false;
    for (const key of keys) {
      const fpr = key.fpr.toUpperCase();
      if (this.byFpr.has(fpr)) continue;
      const node: KeyNode = { key, index: this.keys.length, uids: [] };
      this.keys.push(node);
      this.byFpr.set(fpr, node);
    }
    for (const node of this.keys) {
      const self = node.key.fpr.toUpperCase();
      node.key.userIds.forEach((uid, index) => {
        const byIssuer = new Map<string, WotCertification[]>();
        for (const c of uid.certifications) {
          const issuer = c.issuer?.toUpperCase();
          // A certificate certifying itself is a self-signature, never evidence.
          if (!issuer || issuer === self) continue;
          if (!isCertificationClass(c.type) && c.type !== CERT_REVOCATION) continue;
          if (c.trust && c.trust.level > 0 && c.regexes.length > 0) scoped = true;
          const list = byIssuer.get(issuer);
          if (list) list.push(c);
          else byIssuer.set(issuer, [c]);
        }
        node.uids.push({ uid, key: node, index, byIssuer });
        for (const issuer of byIssuer.keys()) {
          const keys = this.certifiedBy.get(issuer);
          if (!keys) this.certifiedBy.set(issuer, [node]);
          else if (keys[keys.length - 1] !== node) keys.push(node);
        }
      });
    }
    this.scoped = scoped;
  }

  regex(source: string): CompiledRegex {
    let re = this.regexCache.get(source);
    if (!re) {
      re = compileRegex(source);
      this.regexCache.set(source, re);
    }
    return re;
  }
}

/** How a certification was chosen among an issuer's signatures on one user ID (mark_usable_uid_certs). */
export interface Selection {
  /** The certification or revocation gpg keeps for this issuer, if any verified. */
  chosen?: WotCertification;
  /** Whether `chosen` is a usable certification (not a revocation, not expired). */
  usable: boolean;
}

function nonRevocableUnexpired(c: WotCertification, now: number): boolean {
  return isCertificationClass(c.type) && !c.revocable && (c.expires === undefined || c.expires > now);
}

/** Whether gpg drops the certification before selection because of its class. */
export function belowMinLevel(c: WotCertification, minCertLevel: number): boolean {
  return c.type >= 0x11 && c.type <= 0x13 && c.type - 0x10 < minCertLevel;
}

/**
 * GnuPG's choice among one issuer's signatures on a user ID: only verified ones of the
 * right classes; a non-revocable unexpired certification beats everything; otherwise
 * the newest (the later packet on equal times). An expired winner gives no fallback.
 */
export function selectCertification(certs: WotCertification[], opts: ResolvedOptions): Selection {
  let chosen: WotCertification | undefined;
  for (const c of certs) {
    if (c.outcome !== 'good' || belowMinLevel(c, opts.minCertLevel)) continue;
    if (!isCertificationClass(c.type) && c.type !== CERT_REVOCATION) continue;
    if (!chosen) {
      chosen = c;
      continue;
    }
    const keep = nonRevocableUnexpired(chosen, opts.now);
    const take = nonRevocableUnexpired(c, opts.now);
    if (keep && !take) continue;
    if (!keep && take) {
      chosen = c;
      continue;
    }
    if (c.created >= chosen.created) chosen = c;
  }
  if (!chosen) return { usable: false };
  const usable = isCertificationClass(chosen.type) && (chosen.expires === undefined || chosen.expires > opts.now);
  return { chosen, usable };
}

/** A certification that counted toward a user ID's validity. */
export interface Counted {
  cert: WotCertification;
  issuer: string;
  /** The issuer's ownertrust when it counted (after trust-signature minimums). */
  weight: number;
  /** The level (depth) of the scan. */
  level: number;
}

/** An introducer: a key in some level's key list. */
export interface Introducer {
  fpr: string;
  /** The level at which its certifications are counted (0 for roots). */
  level: number;
  root: boolean;
  /** Ownertrust as assigned (before trust-signature minimums). */
  assigned: number;
  /** Ownertrust used: assigned, raised to the minimum its trust signature implies. */
  ownertrust: number;
  /** From the trust signature that made it a delegate: amount and remaining depth. */
  trustValue: number;
  trustDepth: number;
  /** gpg: the one expression checked (first regex of the last tsig that had any). */
  gnupgScope?: string;
  /** strict: every expression that must match, inherited down the chain. */
  scopes: string[];
  /** The trust signature that set trustValue/trustDepth, if any. */
  tsig?: { cert: WotCertification; issuer: string; uid: number };
  /** Index of the user ID that was fully valid when it became an introducer (roots: undefined). */
  viaUid?: number;
}

export interface UidResult {
  full: number;
  marginal: number;
  /** Stored validity code (Trust.*): 0 when never signed by an introducer. */
  validity: number;
  /** Level of the last scan that changed it. */
  level?: number;
  counted: Counted[];
}

export interface KeyResult {
  introducer?: Introducer;
  /** Level after which the key was no longer scanned (all user IDs fully valid). */
  doneAt?: number;
  uids: UidResult[];
}

export type Model = 'gnupg' | 'strict';

export interface RunResult {
  model: Model;
  keys: Map<string, KeyResult>;
  /** Levels actually scanned. */
  levels: number;
}

/** Certifications counted so far on one user ID. */
interface Counts {
  full: number;
  marginal: number;
}

/** What a counted certification adds, by its introducer's ownertrust (gpg: ultimate fills completes-needed). */
function countIntroducer(counts: Counts, k: Introducer, opts: ResolvedOptions): void {
  if (k.ownertrust === Trust.Ultimate) counts.full = opts.completesNeeded;
  else if (k.ownertrust === Trust.Full) counts.full++;
  else if (k.ownertrust === Trust.Marginal) counts.marginal++;
}

const isFull = (counts: Counts, opts: ResolvedOptions) => counts.full >= opts.completesNeeded || counts.marginal >= opts.marginalsNeeded;

const minOwnertrust = (value: number) => (value >= 120 ? Trust.Full : value >= 60 ? Trust.Marginal : 0);

/** Whether an introducer's scope admits a user ID under the model's rules. */
export function scopeAdmits(graph: Graph, kr: Introducer, text: string, model: Model): boolean {
  if (model === 'gnupg') {
    if (kr.gnupgScope === undefined) return true;
    // gpg hands regexec a C string: the user ID ends at its first NUL.
    const nul = text.indexOf('\u0000');
    return regexMatches(graph.regex(kr.gnupgScope), nul < 0 ? text : text.slice(0, nul), 'gnupg');
  }
  if (kr.scopes.length === 0) return true;
  if (hasControlCharacters(text)) return false;
  // Case folds in ASCII only: gpg's fold also makes U+017F match `s` and U+0131 match `i`.
  return kr.scopes.every((s) => regexMatches(graph.regex(s), text, 'ascii'));
}

/**
 * Runs validate_keys. `ownertrust` maps fingerprints to assigned ownertrust; roots are
 * ultimately trusted. `verify` is asked, once per issuer, to check the certifications
 * of each level's introducers before that level is scanned.
 */
export async function runModel(
  graph: Graph,
  roots: string[],
  ownertrust: ReadonlyMap<string, number>,
  opts: ResolvedOptions,
  model: Model,
  verify?: VerifyCertifications,
): Promise<RunResult> {
  const results = new Map<string, KeyResult>();
  const resultFor = (node: KeyNode): KeyResult => {
    const fpr = node.key.fpr.toUpperCase();
    let r = results.get(fpr);
    if (!r) {
      r = { uids: node.uids.map(() => ({ full: 0, marginal: 0, validity: 0, counted: [] })) };
      results.set(fpr, r);
    }
    return r;
  };
  const used = new Set<string>();
  const done = new Set<string>();
  let klist: Introducer[] = [];
  for (const fpr of roots) {
    const node = graph.byFpr.get(fpr);
    if (!node || used.has(fpr)) continue;
    used.add(fpr);
    done.add(fpr);
    const intro: Introducer = { fpr, level: 0, root: true, assigned: Trust.Ultimate, ownertrust: Trust.Ultimate, trustValue: 0, trustDepth: 0, scopes: [] };
    const r = resultFor(node);
    r.introducer = intro;
    r.doneAt = 0;
    for (const u of r.uids) u.validity = Trust.Ultimate;
    klist.push(intro);
  }
  // Revoked and expired keys are never scanned (validate_key_list marks them seen).
  for (const node of graph.keys) if (node.key.status !== 'valid') done.add(node.key.fpr.toUpperCase());

  let depth = 0;
  for (; depth < opts.maxCertDepth && klist.length > 0; depth++) {
    for (const k of klist) {
      const min = minOwnertrust(k.trustValue);
      if (k.ownertrust < min) k.ownertrust = min;
    }
    // A revoked or expired introducer's certifications never verify (observed in gpg 2.2.40).
    const active = new Map<string, Introducer>();
    for (const k of klist) if (graph.byFpr.get(k.fpr)?.key.status === 'valid') active.set(k.fpr, k);
    const affected = new Set<KeyNode>();
    for (const fpr of active.keys()) for (const node of graph.certifiedBy.get(fpr) ?? []) if (!done.has(node.key.fpr.toUpperCase())) affected.add(node);
    const scan = [...affected].sort((a, b) => a.index - b.index);
    if (verify) {
      if (opts.detail === 'validity') await verifyForValidity(graph, scan, active, resultFor, opts, model, verify);
      else await verifyIntroducers(graph, active, verify);
    }

    const next: Introducer[] = [];
    for (const node of scan) {
      const fpr = node.key.fpr.toUpperCase();
      const r = resultFor(node);
      // The trust-signature state lives on the key (not the user ID) and is rebuilt by every scan.
      const pk = { value: 0, depth: 0, gnupgScope: undefined as string | undefined, sticky: [] as string[], inherited: [] as string[], tsig: undefined as Introducer['tsig'] };
      let newlyFull: number | undefined;
      for (const u of node.uids) {
        if (u.uid.status !== 'valid') continue;
        const state = r.uids[u.index];
        const chosen = new Set<WotCertification>();
        for (const [issuer, certs] of u.byIssuer) {
          if (!active.has(issuer)) continue;
          const sel = selectCertification(certs, opts);
          if (sel.usable && sel.chosen) chosen.add(sel.chosen);
        }
        if (chosen.size === 0) continue;
        let signed = false;
        // Packet order: with several trust signatures, the last one processed wins.
        for (const cert of u.uid.certifications) {
          if (!chosen.has(cert)) continue;
          const kr = active.get(cert.issuer!.toUpperCase())!;
          if (!scopeAdmits(graph, kr, u.uid.text, model)) continue;
          if (opts.trustSignatures && cert.trust && cert.trust.level > 0) {
            const eff = cert.trust.level < kr.trustDepth || kr.root ? cert.trust.level : kr.trustDepth;
            if (eff > 0) {
              pk.value = cert.trust.amount;
              pk.depth = eff - 1;
              if (cert.regexes.length > 0) {
                pk.gnupgScope = cert.regexes[0];
                pk.sticky = cert.regexes;
              }
              pk.inherited = kr.scopes;
              pk.tsig = { cert, issuer: kr.fpr, uid: u.index };
            }
          }
          countIntroducer(state, kr, opts);
          state.counted.push({ cert, issuer: kr.fpr, weight: kr.ownertrust, level: depth });
          signed = true;
        }
        if (!signed) continue;
        const full = isFull(state, opts);
        state.validity = full ? Trust.Full : state.full > 0 || state.marginal > 0 ? Trust.Marginal : Trust.Undefined;
        state.level = depth;
        if (full && newlyFull === undefined) newlyFull = u.index;
      }
      if (newlyFull !== undefined && !used.has(fpr)) {
        used.add(fpr);
        const assigned = (ownertrust.get(fpr) ?? 0) & 15;
        const scopes = [...new Set([...pk.inherited, ...pk.sticky])];
        const intro: Introducer = {
          fpr,
          level: depth + 1,
          root: false,
          assigned,
          ownertrust: assigned,
          trustValue: pk.value,
          trustDepth: pk.depth,
          gnupgScope: pk.gnupgScope,
          scopes,
          tsig: pk.tsig,
          viaUid: newlyFull,
        };
        r.introducer = intro;
        next.push(intro);
      }
      if (r.uids.every((u) => u.validity >= Trust.Full)) {
        done.add(fpr);
        r.doneAt = depth;
      }
    }
    klist = next;
  }
  // Introducers found at the last level are listed but never scanned (max-cert-depth).
  return { model, keys: results, levels: depth };
}

// ---- What a level must verify ------------------------------------------------------------

/** Every still unchecked certification made by these introducers, each issuer once per graph. */
async function verifyIntroducers(graph: Graph, active: Map<string, Introducer>, verify: VerifyCertifications): Promise<void> {
  const issuers = [...active.keys()].filter((f) => !graph.verified.has(f));
  const wanted: WotCertification[] = [];
  for (const issuer of issuers) {
    for (const node of graph.certifiedBy.get(issuer) ?? []) {
      for (const u of node.uids) for (const c of u.byIssuer.get(issuer) ?? []) if (c.outcome === 'unchecked') wanted.push(c);
    }
  }
  if (wanted.length > 0) await verify(wanted);
  for (const f of issuers) graph.verified.add(f);
}

/** An issuer's certifications on one user ID: verified together, since gpg chooses among them. */
interface Group {
  introducer: Introducer;
  certs: WotCertification[];
}

const weightOf = (k: Introducer) => (k.ownertrust === Trust.Ultimate || k.ownertrust === Trust.Full || k.ownertrust === Trust.Marginal ? k.ownertrust : 0);
const isUnchecked = (g: Group) => g.certs.some((c) => c.outcome === 'unchecked');

/**
 * Verifies, in rounds, only the certifications that decide this level's letters. A key
 * on which some introducer's certification is a trust signature is verified in full
 * (the last trust signature in packet order sets its delegation). On other keys each
 * user ID takes its introducers' certifications most trusted first and stops once it is
 * fully valid, or once it is signed and only introducers without ownertrust remain:
 * nothing further can change its letter. The scan that follows sees the same counts
 * wherever they matter.
 */
async function verifyForValidity(
  graph: Graph,
  scan: KeyNode[],
  active: Map<string, Introducer>,
  resultFor: (node: KeyNode) => KeyResult,
  opts: ResolvedOptions,
  model: Model,
  verify: VerifyCertifications,
): Promise<void> {
  const always: WotCertification[] = [];
  let pending: Array<{ node: KeyNode; uid: UidNode; groups: Group[] }> = [];
  for (const node of scan) {
    // Most keys of a level have nothing left to verify: find out before building anything.
    let unchecked = false;
    let delegates = false;
    for (const u of node.uids) {
      if (u.uid.status !== 'valid') continue;
      for (const [issuer, certs] of u.byIssuer) {
        if (!active.has(issuer)) continue;
        for (const c of certs) {
          if (c.outcome === 'unchecked') unchecked = true;
          if (c.trust && c.trust.level > 0) delegates = true;
        }
      }
    }
    if (!unchecked) continue;
    for (const u of node.uids) {
      if (u.uid.status !== 'valid') continue;
      const groups: Group[] = [];
      for (const [issuer, certs] of u.byIssuer) {
        const introducer = active.get(issuer);
        if (!introducer) continue;
        if (delegates) {
          for (const c of certs) if (c.outcome === 'unchecked') always.push(c);
        } else groups.push({ introducer, certs });
      }
      if (groups.length > 0) pending.push({ node, uid: u, groups: groups.sort((a, b) => weightOf(b.introducer) - weightOf(a.introducer)) });
    }
  }
  // Each certification is asked for once: one the hook leaves unchecked simply never counts.
  const asked = new Set<WotCertification>(always);
  let batch = always;
  for (;;) {
    const still: typeof pending = [];
    for (const p of pending) {
      const want = nextToVerify(graph, p.uid, p.groups, resultFor(p.node).uids[p.uid.index], opts, model).filter((c) => !asked.has(c));
      if (want.length === 0) continue;
      for (const c of want) asked.add(c);
      batch.push(...want);
      still.push(p);
    }
    pending = still;
    if (batch.length === 0) return;
    await verify(batch);
    batch = [];
  }
}

/**
 * What one user ID still needs verified: nothing when its letter is settled, else the
 * unchecked groups, in order, that would settle it if they all verified.
 */
function nextToVerify(graph: Graph, u: UidNode, groups: Group[], state: UidResult, opts: ResolvedOptions, model: Model): WotCertification[] {
  const counts: Counts = { full: state.full, marginal: state.marginal };
  let signed = false;
  const settled = () => isFull(counts, opts);
  const count = (k: Introducer) => {
    countIntroducer(counts, k, opts);
    signed = true;
  };
  const unchecked: Group[] = [];
  for (const g of groups) {
    // Outside the introducer's scope a certification never counts: no need to verify it.
    if (!scopeAdmits(graph, g.introducer, u.uid.text, model)) continue;
    if (isUnchecked(g)) {
      unchecked.push(g);
      continue;
    }
    const sel = selectCertification(g.certs, opts);
    if (sel.usable && sel.chosen) count(g.introducer);
  }
  if (unchecked.length === 0 || settled()) return [];
  if (signed && unchecked.every((g) => weightOf(g.introducer) === 0)) return [];
  // Suppose each verifies and counts: take groups until that would settle the letter.
  const want: WotCertification[] = [];
  for (const g of unchecked) {
    for (const c of g.certs) if (c.outcome === 'unchecked') want.push(c);
    count(g.introducer);
    if (settled() || weightOf(g.introducer) === 0) break;
  }
  return want;
}
