/**
 * Precomputing what sshd may be told: from the trust core, the certificates its web of
 * trust can reach (the core's certifiers, what they certified, and on through trust
 * signatures, at most max-cert-depth levels), evaluated at a reference time, with every
 * binding's validity from the trust engine and the SSH keys it grants (behaviour §2):
 * only when the user ID is fully valid (`u`/`f`), the primary key valid, and then the
 * primary (if it is authentication-capable) and every valid authentication subkey.
 * The result holds until the next time anything in it expires or starts being valid.
 * Not here: reading users' files (user-keys.ts).
 */
import { evaluateKeyring } from '../cert/evaluate.js';
import { nextSwitch } from '../cert/time-window.js';
import type { EvaluatedCert } from '../cert/types.js';
import type { UnixTime } from '../clock.js';
import { Keyring } from '../keyring/keyring.js';
import type { Cert } from '../openpgp/cert.js';
import { keyIdOf } from '../openpgp/fingerprint.js';
import { KeyFlag, SigType } from '../openpgp/signature.js';
import { hasSshForm, sshLineFromKeyPacket } from '../ssh/openpgp.js';
import { Verifier } from '../verify/verifier.js';
import { buildTrustNetwork } from '../wot/build.js';
import { isFullyValid } from '../wot/network.js';
import type { ValidityLetter, WotCertification } from '../wot/types.js';
import { type AccountCertifier, amountOf } from './account-certifiers.js';
import { domainRegex } from './core.js';
import type { AuthStore, BindingRow } from './store.js';

/** GnuPG's max-cert-depth: no chain is longer, so the reachable set stops there. */
const MAX_DEPTH = 5;

/** How valid a binding is, as gpg's validity letter. Swappable for tests of the plumbing. */
export type BindingValidity = (fpr: string, userId: string) => ValidityLetter;

export interface ComputeStats {
  /** Certificates reachable from the core and evaluated. */
  certs: number;
  bindings: number;
  /** Signature checks answered by the cache, and verified now. */
  cached: number;
  verified: number;
}

export interface Computed {
  rows: BindingRow[];
  /** Unix seconds; null when nothing in the computation ever changes with time. */
  validUntil: number | null;
  stats: ComputeStats;
}

/** The SSH keys a valid certificate grants (`type base64`), primary first; none when the primary is not valid. */
export function grantedKeys(ev: EvaluatedCert): string[] {
  if (ev.primary.status !== 'valid') return [];
  const out: string[] = [];
  if (ev.primary.flags & KeyFlag.Authenticate && hasSshForm(ev.primary.key)) out.push(sshLineFromKeyPacket(ev.primary.key));
  for (const s of ev.subkeys) {
    if (s.status === 'valid' && s.flags & KeyFlag.Authenticate && hasSshForm(s.key)) out.push(sshLineFromKeyPacket(s.key));
  }
  return out;
}

/**
 * The certificates the core's web of trust can reach: certified by the core, or by a key
 * that received a trust signature from one already reached (only such keys can become
 * introducers, since the core is the only key with ownertrust), up to MAX_DEPTH levels.
 */
export async function reachableFrom(store: AuthStore, coreFpr: string): Promise<string[]> {
  const reached = new Map<string, number>();
  const core = await store.serialOf(coreFpr);
  if (core === undefined) return [];
  reached.set(coreFpr, core);
  let introducers = [coreFpr];
  const expanded = new Set<string>(introducers);
  for (let level = 0; level < MAX_DEPTH && introducers.length > 0; level++) {
    const next: string[] = [];
    for (const row of await store.certifiedBy(introducers.map(keyIdOf))) {
      if (!reached.has(row.fpr)) reached.set(row.fpr, row.serial);
      if (row.tsig && !expanded.has(row.fpr)) {
        expanded.add(row.fpr);
        next.push(row.fpr);
      }
    }
    introducers = next;
  }
  return [...reached.entries()].sort((a, b) => a[1] - b[1]).map(([fpr]) => fpr);
}

/** Key IDs a signature names as its issuer, from its fingerprints and key IDs. */
function issuerKeyIds(fingerprints: string[], keyIds: string[]): Set<string> {
  return new Set([...fingerprints.map(keyIdOf), ...keyIds]);
}

export interface ComputeOptions {
  /** Reference time. */
  now: UnixTime;
}

/**
 * Computes every binding reachable from the core at `opts.now`. Without a core (setup
 * not run), nothing is valid.
 */
export async function computeBindings(store: AuthStore, opts: ComputeOptions): Promise<Computed> {
  const stats: ComputeStats = { certs: 0, bindings: 0, cached: 0, verified: 0 };
  const state = await store.state();
  if (!state.coreFpr) return { rows: [], validUntil: null, stats };
  const { certs, keyring } = await loadNetwork(store, state.coreFpr);
  stats.certs = certs.length;
  // A read-only store still answers from its cache and keeps nothing new.
  const verifier = new Verifier({ cache: store.cache });
  const { network, evaluated } = await serverNetwork(keyring, state.coreFpr, opts.now, verifier, 'validity');
  stats.cached = verifier.stats.cached;
  stats.verified = verifier.stats.verified;
  const validity: BindingValidity = (fpr, uid) => network.validity(fpr, uid) ?? '-';
  const rows = bindingRows(certs, evaluated, validity);
  stats.bindings = rows.length;
  return { rows, validUntil: nextSwitch(keyring, opts.now), stats };
}

/**
 * The certificates the core's web of trust reaches, plus `extra` (certificates to explain
 * that it may not reach), with the designated revokers their key revocations name: those
 * must be at hand for the revocations to count.
 */
export async function loadNetwork(store: AuthStore, coreFpr: string, extra: Cert[] = []): Promise<{ certs: Cert[]; keyring: Keyring }> {
  const certs = await store.loadCerts(await reachableFrom(store, coreFpr));
  const keyring = new Keyring(certs);
  // Merged into a stored copy, if any: a fetched certificate may add a certification or a revocation.
  for (const c of extra) keyring.add(c);
  for (const c of [...certs, ...extra]) {
    for (const e of c.directSigs) {
      if (e.sig?.type !== SigType.KeyRevocation) continue;
      for (const id of issuerKeyIds(e.sig.issuerFingerprints, e.sig.issuerKeyIds)) {
        if (id === c.primary.keyId) continue;
        for (const r of await store.certs.byKeyId(id)) if (!keyring.get(r.fpr)) keyring.add(r.cert);
      }
    }
  }
  return { certs, keyring };
}

/**
 * The server's web of trust over `keyring`: the core its only root, gpg's defaults, and no
 * local certification but the core's. `explanations` verifies every certification of an
 * introducer so that each binding can be explained; `validity` only what decides the letters.
 */
export async function serverNetwork(keyring: Keyring, coreFpr: string, now: UnixTime, verifier: Verifier, detail: 'validity' | 'explanations', accountCertifiers: AccountCertifier[] = []) {
  const evaluated = await evaluateKeyring(keyring, { now, verifier, certifications: false });
  const extra = accountTrust(keyring, coreFpr, accountCertifiers, now);
  const { network } = await buildTrustNetwork({ evaluated, verifier }, { roots: [coreFpr], now, detail }, { exclude: foreignLocalCertification(coreFpr), extra });
  return { network, evaluated };
}

/**
 * An account's certifiers as the trust signatures the core would have made on each of
 * their user IDs (src/auth/account-certifiers.ts): for that account's computation only.
 */
function accountTrust(keyring: Keyring, coreFpr: string, certifiers: AccountCertifier[], now: UnixTime): Map<string, Map<string, WotCertification[]>> | undefined {
  if (certifiers.length === 0) return undefined;
  const out = new Map<string, Map<string, WotCertification[]>>();
  for (const c of certifiers) {
    const cert = keyring.get(c.fpr);
    if (!cert || c.fpr === coreFpr) continue;
    const byUid = out.get(c.fpr) ?? new Map<string, WotCertification[]>();
    for (const u of cert.users) {
      if (u.kind !== 'userid') continue;
      const tsig: WotCertification = {
        issuer: coreFpr,
        issuerKeyId: keyIdOf(coreFpr),
        type: SigType.GenericCert,
        created: now,
        trust: { level: c.depth, amount: amountOf(c) },
        regexes: c.domain === undefined ? [] : [domainRegex(c.domain)],
        exportable: false,
        revocable: true,
        hashAlgorithm: 8,
        outcome: 'good',
      };
      byUid.set(u.text, [...(byUid.get(u.text) ?? []), tsig]);
    }
    out.set(c.fpr, byUid);
  }
  return out;
}

/** Certificates accountReach loads at most: a bound against certifications by the thousand. */
const ACCOUNT_REACH_LIMIT = 2000;

/**
 * What an account's own certifiers may matter for: their certificates, and the issuers of
 * the certifications on `carriers` (the certificates of the account's user IDs), then of
 * those on them, up to max-cert-depth levels. Walked back from the carriers because the
 * store indexes only certifications by keys the core reaches, and the account's
 * certifiers' are not among them.
 */
export async function accountReach(store: AuthStore, certifiers: AccountCertifier[], carriers: Cert[]): Promise<Cert[]> {
  const out = new Map<string, Cert>((await store.loadCerts(certifiers.map((c) => c.fpr))).map((c) => [c.primary.fpr, c]));
  let frontier = carriers;
  for (let level = 0; level < MAX_DEPTH && frontier.length > 0 && out.size < ACCOUNT_REACH_LIMIT; level++) {
    const issuers = new Set<string>();
    for (const c of frontier) {
      for (const u of c.users) for (const e of u.signatures) if (e.sig) for (const id of issuerKeyIds(e.sig.issuerFingerprints, e.sig.issuerKeyIds)) if (id !== c.primary.keyId) issuers.add(id);
    }
    const next: Cert[] = [];
    for (const id of issuers) {
      for (const s of await store.certs.byKeyId(id)) {
        if (out.has(s.fpr) || out.size >= ACCOUNT_REACH_LIMIT) continue;
        out.set(s.fpr, s.cert);
        next.push(s.cert);
      }
    }
    frontier = next;
  }
  return [...out.values()];
}

/**
 * The bindings of `userIds` for an account with its own certifiers: the server's web of
 * trust plus those certifiers (as core trust signatures), over the certificates the core
 * reaches, those carrying the user IDs, and those that may vouch for them (accountReach);
 * `extra` certificates (fetched by a reader that may not write) are merged in. With no
 * certifiers it is the server's own web, for just these user IDs.
 */
export async function computeAccountBindings(store: AuthStore, now: UnixTime, certifiers: AccountCertifier[], userIds: string[], extra: Cert[] = []): Promise<Map<string, BindingRow[]>> {
  const out = new Map<string, BindingRow[]>(userIds.map((u) => [u, []]));
  const { coreFpr } = await store.state();
  if (!coreFpr) return out;
  const carries = (c: Cert, uid: string) => c.users.some((u) => u.kind === 'userid' && u.text === uid);
  // Fetched certificates (`extra`, not stored) merge with stored copies in the keyring.
  const carriers: Cert[] = extra.filter((c) => userIds.some((uid) => carries(c, uid)));
  for (const uid of userIds) for (const s of await store.searchUserIds(uid)) if (carries(s.cert, uid)) carriers.push(s.cert);
  const { keyring } = await loadNetwork(store, coreFpr, [...(await accountReach(store, certifiers, carriers)), ...carriers]);
  const { network, evaluated } = await serverNetwork(keyring, coreFpr, now, new Verifier({ cache: store.cache }), 'validity', certifiers);
  const wanted = new Set(userIds);
  for (const r of bindingRows(carriers, evaluated, (fpr, uid) => network.validity(fpr, uid) ?? '-')) {
    if (wanted.has(r.uid) && !out.get(r.uid)?.some((x) => x.fpr === r.fpr)) out.get(r.uid)?.push(r);
  }
  return out;
}

/**
 * On a server only the trust core makes local (non-exportable) certifications; any other
 * is a signature someone copied in (a keyserver that served it before ingest stripped
 * such signatures, say), so it never counts, whatever is stored.
 */
function foreignLocalCertification(coreFpr: string): (c: WotCertification) => boolean {
  const coreKeyId = keyIdOf(coreFpr);
  const byCore = (c: WotCertification) => (c.issuer !== undefined ? c.issuer === coreFpr : c.issuerKeyId === coreKeyId);
  return (c) => !c.exportable && !byCore(c);
}

/** One row per user ID of each certificate (in store order), with the keys it grants when fully valid. */
export function bindingRows(certs: Cert[], evaluated: Map<string, EvaluatedCert>, validity: BindingValidity): BindingRow[] {
  const rows: BindingRow[] = [];
  for (const c of certs) {
    const ev = evaluated.get(c.primary.fpr);
    if (!ev) continue;
    const keys = grantedKeys(ev);
    const seen = new Set<string>();
    for (const u of ev.userIds) {
      if (u.component.kind !== 'userid' || seen.has(u.text)) continue;
      seen.add(u.text);
      const letter = validity(ev.fpr, u.text);
      rows.push({ uid: u.text, fpr: ev.fpr, validity: letter, keys: isFullyValid(letter) ? keys : [] });
    }
  }
  return rows;
}

/**
 * Makes sure the store's precomputed bindings answer for `now`: recomputes and saves them
 * when the certificates changed or time moved past their validity. Read-only stores get
 * the rows in memory. Returns the rows when it computed them, undefined when the stored
 * ones are fresh.
 */
export async function refreshBindings(store: AuthStore, now: UnixTime): Promise<Computed | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const state = await store.state();
    if (await store.isFresh(now, state)) return undefined;
    const computed = await computeBindings(store, { now });
    if (store.readonly || !state.coreFpr) return computed;
    // Saved only if nothing changed meanwhile; otherwise compute again.
    if (await store.saveBindings(computed.rows, state.seq, state.coreFpr, now, computed.validUntil)) return computed;
  }
  return computeBindings(store, { now });
}
