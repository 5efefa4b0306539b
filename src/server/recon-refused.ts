/**
 * Digests recon must not fetch again: a peer that keeps everything (SKS) goes on offering the
 * digest of a certificate our ingest trimmed, rejected, blocked or was told to delete, since
 * what we stored hashes differently or not at all; without this memory every gossip would fetch
 * it again. Each entry says why and when; it expires (so a certificate refused for want of its
 * issuers, or rate-limited, is tried again later), and the list is bounded per peer and in all
 * (`keepRefusals`), so no peer can make us forget what another taught us.
 * Kept in the store's meta (one JSON value), shared by every process on the store.
 */
import type { UnixTime } from '../clock.js';
import type { MetaStore } from '../store/types.js';

export const REFUSED_META = 'recon.refused';

/**
 * Why a fetched digest did not end up stored as such:
 * - `trimmed`: stored, but what we keep of it hashes differently (certifications trimmed to
 *   the budget, held aside, or unverifiable packets dropped);
 * - `superseded`: nothing of it was dropped, but our copy already has more (the peer holds an
 *   older version; it fetches ours and moves on, unless it trims differently);
 * - `rejected`: nothing of it can be served (ingest.ts);
 * - `blocked`: on the blocklist;
 * - `too-large`, `unparseable`: the ingest refused the bytes;
 * - `rate-limited`: changed too often lately;
 * - `unavailable`: the peer did not send it when asked.
 */
export type RefusalReason = 'trimmed' | 'superseded' | 'rejected' | 'blocked' | 'too-large' | 'unparseable' | 'rate-limited' | 'unavailable';

/** How long a refusal holds before the digest is fetched again, seconds. */
export const REFUSAL_TTL: Readonly<Record<RefusalReason, number>> = Object.freeze({
  trimmed: 7 * 86400,
  superseded: 86400,
  rejected: 7 * 86400,
  blocked: 30 * 86400,
  'too-large': 30 * 86400,
  unparseable: 30 * 86400,
  'rate-limited': 3600,
  unavailable: 3600,
});

export interface Refusal {
  /** 32 lower-case hex digits. */
  readonly digest: string;
  readonly reason: RefusalReason;
  readonly at: UnixTime;
  /** The certificate's fingerprint, when the bytes were read that far. */
  readonly fpr?: string;
  /** The peer that offered it (`host port`). */
  readonly peer?: string;
}

/** Most refusals remembered (about 120 bytes each in the meta value). */
export const MAX_REFUSALS = 50_000;

/**
 * Most refusals one peer's offers may hold, for reasons that pass within the hour
 * (`unavailable`, `rate-limited`) and for the rest. A member offering random digests its
 * hashquery then never sends fills only its own short-lived share; it cannot push out what
 * another peer's trimmed or blocked certificates taught us, which would be fetched again.
 */
export const MAX_TRANSIENT_PER_PEER = 1_000;
export const MAX_LASTING_PER_PEER = 20_000;

const TRANSIENT: ReadonlySet<RefusalReason> = new Set(['unavailable', 'rate-limited']);

/**
 * The refusals to keep: unexpired, at most the per-peer shares (newest kept), then at most
 * `max` in all, split fairly between the peers that offered them: each peer keeps up to an
 * equal share, and what one leaves unused goes to the others. So however many members fill
 * their shares with refusals they made on purpose (garbage that stays "unparseable" for 30
 * days), a peer's own entries keep their share. Within a peer, short-lived reasons go first.
 */
export function keepRefusals(list: readonly Refusal[], now: UnixTime, max: number): Refusal[] {
  const live = list.filter((r) => r.at + REFUSAL_TTL[r.reason] > now).sort((a, b) => b.at - a.at);
  const used = new Map<string, number>();
  const byPeer = new Map<string, Refusal[]>();
  let total = 0;
  for (const r of live) {
    const transient = TRANSIENT.has(r.reason);
    const share = `${transient ? 't' : 'l'} ${r.peer ?? ''}`;
    const n = used.get(share) ?? 0;
    if (n >= (transient ? MAX_TRANSIENT_PER_PEER : MAX_LASTING_PER_PEER)) continue;
    used.set(share, n + 1);
    const mine = byPeer.get(r.peer ?? '') ?? [];
    byPeer.set(r.peer ?? '', mine);
    mine.push(r);
    total++;
  }
  if (total <= max) return [...byPeer.values()].flat();
  // Water-filling: the smallest lists are kept whole while they fit an equal share of what is left.
  const peers = [...byPeer.values()].sort((a, b) => a.length - b.length);
  const kept: Refusal[] = [];
  let room = max;
  peers.forEach((mine, i) => {
    const share = Math.floor(room / (peers.length - i));
    const ordered = mine.sort((a, b) => Number(TRANSIENT.has(a.reason)) - Number(TRANSIENT.has(b.reason)) || b.at - a.at);
    const take = ordered.slice(0, share);
    kept.push(...take);
    room -= take.length;
  });
  return kept;
}

export class RefusedDigests {
  private cache: Map<string, Refusal> | undefined;

  constructor(
    private readonly meta: MetaStore,
    private readonly max = MAX_REFUSALS,
  ) {}

  /** Reads the list from the store again (another process may have written it). */
  async load(): Promise<Map<string, Refusal>> {
    const raw = await this.meta.getMeta(REFUSED_META);
    const map = new Map<string, Refusal>();
    if (raw) {
      try {
        for (const r of JSON.parse(raw) as Refusal[]) if (typeof r.digest === 'string' && r.reason in REFUSAL_TTL) map.set(r.digest, r);
      } catch {
        // A damaged value only costs refetches.
      }
    }
    this.cache = map;
    return map;
  }

  /** Those of `digests` refused and not yet expired at `now`. */
  async refused(digests: readonly Buffer[], now: UnixTime): Promise<Set<string>> {
    const map = await this.load();
    const out = new Set<string>();
    for (const d of digests) {
      const hex = d.toString('hex');
      const r = map.get(hex);
      if (r && r.at + REFUSAL_TTL[r.reason] > now) out.add(hex);
    }
    return out;
  }

  /** Adds (or renews) refusals, drops expired ones, and keeps within the shares (`keepRefusals`). */
  async record(entries: readonly Refusal[], now: UnixTime): Promise<void> {
    if (entries.length === 0) return;
    const map = await this.load();
    for (const e of entries) {
      map.delete(e.digest);
      map.set(e.digest, e);
    }
    const list = keepRefusals([...map.values()], now, this.max);
    await this.meta.setMeta(REFUSED_META, JSON.stringify(list));
    this.cache = new Map(list.map((r) => [r.digest, r]));
  }

  /** Forgets refusals of these digests (say, after they were stored after all). */
  async forget(digests: readonly string[]): Promise<void> {
    const map = await this.load();
    let changed = false;
    for (const d of digests) changed = map.delete(d) || changed;
    if (changed) await this.meta.setMeta(REFUSED_META, JSON.stringify([...map.values()]));
  }

  /** The current refusals (as last loaded, or loaded now), newest first. */
  async list(): Promise<Refusal[]> {
    const map = this.cache ?? (await this.load());
    return [...map.values()].sort((a, b) => b.at - a.at);
  }

  /** How many are remembered, by reason. */
  async counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of (await this.load()).values()) out[r.reason] = (out[r.reason] ?? 0) + 1;
    return out;
  }
}
