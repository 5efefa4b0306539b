/**
 * What an index line says about a stored certificate at a reference time: algorithm, size,
 * creation and expiry, revoked and expired flags of the key and of each bound user ID. Kept
 * three ways, cheapest first: in memory per fingerprint and digest, in the store as a note on
 * the certificate (`CertNotes`, written by the ingest when the certificate is stored, so a
 * lookup of a key never asked for before reads one row instead of parsing and evaluating it),
 * and evaluated when neither holds; each for as long as its evaluation holds
 * (src/cert/time-window.ts).
 *
 * Signatures are not verified again here: the keyserver stores a self-signature or a key
 * revocation only when its ingest verified it (src/server/ingest.ts; held-aside and trimmed
 * signatures are not stored), so the evaluation only has to pick among good ones. Verifying
 * them again cost more than the lookup itself on every index line of a certificate not
 * summarised yet (BENCHMARKS.md §8). Hints for clients, never proof: a client verifies what
 * it imports, and the key page (src/hkp/web/key-view.ts) verifies what it shows.
 */
import { evaluateCerts, issuedBy } from '../cert/evaluate.js';
import { type TimeWindow, timeWindow } from '../cert/time-window.js';
import type { UserIdState } from '../cert/types.js';
import type { UnixTime } from '../clock.js';
import { Keyring } from '../keyring/keyring.js';
import type { IndexKey } from '../keyserver/mr-index.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { SigType } from '../openpgp/signature.js';
import type { Cert } from '../openpgp/cert.js';
import type { CertNote, PutResult, Store, StoredCert } from '../store/types.js';
import type { SignatureVerifier } from '../verify/verifier.js';

export interface UserIdSummary {
  /** The user ID packet body. */
  bytes: Buffer;
  text: string;
  created?: number;
  expires?: number;
  revoked: boolean;
  expired: boolean;
}

export interface SubkeySummary {
  fpr: string;
  keyId: string;
  algorithm: number;
  bits: number;
  created: number;
  expires?: number;
  flags: number;
  revoked: boolean;
  expired: boolean;
}

export interface CertSummary {
  fpr: string;
  keyId: string;
  version: number;
  algorithm: number;
  bits: number;
  created: number;
  expires?: number;
  revoked: boolean;
  expired: boolean;
  /** Bound user IDs (a good self-signature or self-revocation), in certificate order. */
  userIds: UserIdSummary[];
  subkeys: SubkeySummary[];
}

/** The index record GnuPG reads (`pub:` and `uid:` lines) for a summary. */
export function indexKey(s: CertSummary): Omit<IndexKey, 'idKind'> {
  return {
    id: s.fpr,
    algorithm: s.algorithm,
    bits: s.bits,
    created: s.created,
    expires: s.expires,
    flags: { revoked: s.revoked, disabled: false, expired: s.expired },
    userIds: s.userIds.map((u) => ({ bytes: u.bytes, text: u.text, created: u.created, expires: u.expires, flags: { revoked: u.revoked, disabled: false, expired: u.expired } })),
  };
}

/**
 * When a revoked user ID was last self-certified (its time in the index, as SKS gives it),
 * rather than when it was revoked; undefined when no self-certification is found.
 */
function certifiedAt(u: UserIdState, key: KeyPacket): number | undefined {
  let at: number | undefined;
  for (const e of u.component.signatures) {
    const sig = e.sig;
    if (!sig || sig.type < SigType.GenericCert || sig.type > SigType.PositiveCert || !issuedBy(sig, key)) continue;
    if (at === undefined || sig.created > at) at = sig.created;
  }
  return at;
}

interface Entry {
  digest: string;
  after: number;
  before: number;
  summary: CertSummary;
}

/** The note's format: a summary of another shape gets another tag, and older notes are evaluated again. */
const NOTE_FORMAT = 'index-summary-1';

/** A summary as a note: JSON, user ID bytes in base64. */
function encodeNote(s: CertSummary): Buffer {
  return Buffer.from(JSON.stringify({ format: NOTE_FORMAT, ...s, userIds: s.userIds.map((u) => ({ ...u, bytes: u.bytes.toString('base64') })) }), 'utf8');
}

/** A note back as a summary; undefined for another format or a damaged note (it is evaluated again). */
function decodeNote(data: Buffer): CertSummary | undefined {
  try {
    const v = JSON.parse(data.toString('utf8'));
    if (v?.format !== NOTE_FORMAT || !Array.isArray(v.userIds) || !Array.isArray(v.subkeys)) return undefined;
    const { format: _, ...summary } = v;
    summary.userIds = v.userIds.map((u: UserIdSummary & { bytes: string }) => ({ ...u, bytes: Buffer.from(u.bytes, 'base64') }));
    return summary as CertSummary;
  } catch {
    return undefined;
  }
}

/** Every check good: what the ingest verified before storing (see the top of this file). */
const VERIFIED_AT_INGEST: SignatureVerifier = { verify: async (checks) => checks.map(() => true) };

/**
 * Summaries of stored certificates: from memory (the `maxEntries` most recently used), from the
 * store's notes, or evaluated (then kept in both).
 */
export class Summaries {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly store: Pick<Store, 'certs' | 'notes'>,
    private readonly maxEntries = 10_000,
  ) {}

  /**
   * The stored certificates of the keys that made key revocations on `certs` (designated
   * revokers), so those revocations are checked; and which of `certs` had every such issuer found.
   */
  private async revokersOf(certs: readonly Cert[]): Promise<{ revokers: Cert[]; complete: Set<string> }> {
    const revokers: Cert[] = [];
    const complete = new Set<string>();
    for (const c of certs) {
      let found = true;
      for (const e of c.directSigs) {
        const sig = e.sig;
        if (!sig || sig.type !== SigType.KeyRevocation || issuedBy(sig, c.primary)) continue;
        const ids = sig.issuerFingerprints.length > 0 ? sig.issuerFingerprints : sig.issuerKeyIds;
        const hits = ids.length > 0 ? await this.store.certs.byKeyId(ids[0]) : [];
        if (hits.length === 0) found = false;
        for (const h of hits) revokers.push(h.cert);
      }
      if (found) complete.add(c.primary.fpr);
    }
    return { revokers, complete };
  }

  /**
   * Evaluates `certs` at `now`. `window` is where each summary holds; undefined when a key
   * revocation's issuer is not stored yet (it may count once that key arrives), so the summary
   * is not kept.
   */
  private async evaluate(certs: Cert[], now: UnixTime): Promise<Array<{ summary: CertSummary; window?: TimeWindow }>> {
    const { revokers, complete } = await this.revokersOf(certs);
    // The keyring answers only for designated revokers (nothing else of it is read with thirdParty off).
    const evaluated = await evaluateCerts(certs, new Keyring(revokers), { now, verifier: VERIFIED_AT_INGEST, certifications: false, thirdParty: false });
    return evaluated.map((ev, i) => {
      const key = ev.primary.key;
      const summary: CertSummary = {
        fpr: ev.fpr,
        keyId: ev.keyId,
        version: key.version,
        algorithm: key.algorithm,
        bits: key.bits,
        created: key.created,
        expires: ev.primary.expires,
        revoked: ev.primary.status === 'revoked',
        expired: ev.primary.status === 'expired',
        // The primary user ID first (what a client shows as the key's name), then certificate order.
        userIds: [...ev.userIds.filter((u) => u.primary), ...ev.userIds.filter((u) => !u.primary)]
          .filter((u) => u.component.kind === 'userid' && u.status !== 'invalid')
          .map((u) => ({
            bytes: u.component.packet.body,
            text: u.text,
            created: u.status === 'revoked' ? (certifiedAt(u, key) ?? u.selfSig?.created) : u.selfSig?.created,
            expires: u.expires,
            revoked: u.status === 'revoked',
            expired: u.status === 'expired',
          })),
        subkeys: ev.subkeys
          .filter((s) => s.status !== 'invalid')
          .map((s) => ({
            fpr: s.key.fpr,
            keyId: s.key.keyId,
            algorithm: s.key.algorithm,
            bits: s.key.bits,
            created: s.key.created,
            expires: s.expires,
            flags: s.flags,
            revoked: s.status === 'revoked',
            expired: s.status === 'expired',
          })),
      };
      return { summary, window: complete.has(ev.fpr) ? timeWindow([certs[i]], now) : undefined };
    });
  }

  private remember(c: Pick<StoredCert, 'fpr' | 'digest'>, summary: CertSummary, window: TimeWindow): void {
    this.cache.delete(c.fpr);
    this.cache.set(c.fpr, { digest: c.digest.toString('hex'), after: window.after, before: window.before, summary });
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
  }

  async of(stored: readonly StoredCert[], now: UnixTime): Promise<CertSummary[]> {
    const out: Array<CertSummary | undefined> = [];
    let missing: number[] = [];
    stored.forEach((s, i) => {
      const e = this.cache.get(s.fpr);
      if (e && e.digest === s.digest.toString('hex') && now > e.after && now < e.before) {
        // Refresh its place: the map's order is least recently used first.
        this.cache.delete(s.fpr);
        this.cache.set(s.fpr, e);
        out[i] = e.summary;
      } else missing.push(i);
    });
    if (missing.length > 0) {
      const notes = await this.store.notes.get(
        missing.map((i) => stored[i]),
        now,
      );
      missing = missing.filter((i) => {
        const note = notes.get(stored[i].serial);
        const summary = note && decodeNote(note.data);
        if (!note || !summary) return true;
        out[i] = summary;
        this.remember(stored[i], summary, note.window);
        return false;
      });
    }
    if (missing.length > 0) {
      const evaluated = await this.evaluateAndNote(
        missing.map((i) => stored[i]),
        now,
      );
      evaluated.forEach(({ summary, window }, j) => {
        out[missing[j]] = summary;
        if (window) this.remember(stored[missing[j]], summary, window);
      });
    }
    return out as CertSummary[];
  }

  /** Evaluates `certs` and notes each summary that can be kept (see `evaluate`) on its certificate. */
  private async evaluateAndNote(certs: ReadonlyArray<Pick<StoredCert, 'cert' | 'serial' | 'digest'>>, now: UnixTime): Promise<Array<{ summary: CertSummary; window?: TimeWindow }>> {
    const evaluated = await this.evaluate(
      certs.map((c) => c.cert),
      now,
    );
    const notes: CertNote[] = [];
    evaluated.forEach(({ summary, window }, i) => {
      if (window) notes.push({ serial: certs[i].serial, digest: certs[i].digest, window, data: encodeNote(summary) });
    });
    await this.store.notes.put(notes);
    return evaluated;
  }

  /**
   * Notes the summaries of certificates just written (the ingest calls this after storing them),
   * so that the first lookup of each reads a row instead of evaluating it. Best effort.
   */
  async note(written: readonly PutResult[], now: UnixTime): Promise<void> {
    const fresh = written.filter((w) => w.status !== 'unchanged');
    if (fresh.length > 0) await this.evaluateAndNote(fresh, now);
  }
}
