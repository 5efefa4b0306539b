/**
 * What an index line says about a stored certificate at a reference time: algorithm, size,
 * creation and expiry, revoked and expired flags of the key and of each bound user ID. The
 * result is kept per stored digest for as long as the evaluation holds (src/cert/time-window.ts).
 *
 * Signatures are not verified again here: the keyserver stores a self-signature or a key
 * revocation only when its ingest verified it (src/server/ingest.ts; held-aside and trimmed
 * signatures are not stored), so the evaluation only has to pick among good ones. Verifying
 * them again cost more than the lookup itself on every index line of a certificate not
 * summarised yet (BENCHMARKS.md §8). Hints for clients, never proof: a client verifies what
 * it imports, and the key page (web/key-view.ts) verifies what it shows.
 */
import { evaluateCerts, issuedBy } from '../cert/evaluate.js';
import { timeWindow } from '../cert/time-window.js';
import type { UserIdState } from '../cert/types.js';
import type { UnixTime } from '../clock.js';
import { Keyring } from '../keyring/keyring.js';
import type { IndexKey } from '../keyserver/mr-index.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { SigType } from '../openpgp/signature.js';
import type { Cert } from '../openpgp/cert.js';
import type { Store, StoredCert } from '../store/types.js';
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

/** Every check good: what the ingest verified before storing (see the top of this file). */
const VERIFIED_AT_INGEST: SignatureVerifier = { verify: async (checks) => checks.map(() => true) };

/** Summaries of stored certificates, cached by fingerprint and digest while their time window holds. */
export class Summaries {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly store: Pick<Store, 'certs'>,
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

  async of(stored: readonly StoredCert[], now: UnixTime): Promise<CertSummary[]> {
    const out: Array<CertSummary | undefined> = [];
    const missing: number[] = [];
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
      const certs = missing.map((i) => stored[i].cert);
      const { revokers, complete } = await this.revokersOf(certs);
      const evaluated = await evaluateCerts(certs, new Keyring([...certs, ...revokers]), { now, verifier: VERIFIED_AT_INGEST, certifications: false });
      evaluated.forEach((ev, j) => {
        const i = missing[j];
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
        out[i] = summary;
        // A revocation by a key not stored yet may count once that key arrives: not cached.
        if (!complete.has(ev.fpr)) return;
        const window = timeWindow([stored[i].cert], now);
        this.cache.set(stored[i].fpr, { digest: stored[i].digest.toString('hex'), after: window.after, before: window.before, summary });
        if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
      });
    }
    return out as CertSummary[];
  }
}
