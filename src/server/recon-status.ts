/**
 * The recon peers' state as the HKP server shows it: each recon process (inside `serve` or
 * the separate `recon` command) writes its peers' state to the store's meta after every sync,
 * keyed by its recon address, so the server answering HKP reads it wherever recon runs. Here:
 * that record, and the sections it adds to `/metrics` (Prometheus text) and to `op=stats`.
 */
import type { UnixTime } from '../clock.js';
import type { MetaStore, Store } from '../store/types.js';
import { RefusedDigests } from './recon-refused.js';

export const STATUS_META = 'recon.status';

/** One peer's record. Counters run from the first sync this store recorded. */
export interface PeerState {
  /** `host port` as in the membership file. */
  peer: string;
  /** Sessions run (both directions), and those that failed. */
  sessions: number;
  failures: number;
  /** Certificates fetched from it that changed our store. */
  fetched: number;
  /**
   * Elements it lacked that we learnt of in our sessions with it (it fetches them from our HKP
   * port). A lower bound of what it lacked: as initiator we learn all of them, as responder
   * only those of the nodes we answered in full (the peer works out the rest itself). The web
   * page's "Keys it lacked" column shows this.
   */
  sent: number;
  /** Attempts skipped because one side was busy (our refusal, the peer's, or a fetch from it still under way); not failures. */
  busy?: number;
  /** Elements it offered that are not MD5 digests (2^128 or more), dropped. */
  dropped?: number;
  /** Digests it offered that we refused (recon-refused.ts), and offered again but skipped. */
  refused: number;
  skipped: number;
  lastAttempt?: UnixTime;
  lastSync?: UnixTime;
  lastDirection?: 'outgoing' | 'incoming';
  lastError?: string;
  lastErrorCode?: string;
  lastErrorAt?: UnixTime;
}

export interface InstanceStatus {
  httpPort: number;
  updated: UnixTime;
  /** Connections from addresses not in the membership file, since this process started. */
  rejectedConnections: number;
  peers: PeerState[];
}

export type ReconStatus = Record<string, InstanceStatus>;

export async function readStatus(meta: MetaStore): Promise<ReconStatus> {
  const raw = await meta.getMeta(STATUS_META);
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as ReconStatus) : {};
  } catch {
    return {};
  }
}

/**
 * Replaces this instance's record. The counters of a peer are carried over from the stored
 * record when this process has fewer (it restarted), so they keep counting.
 */
export async function writeStatus(meta: MetaStore, instance: string, status: InstanceStatus): Promise<void> {
  const all = await readStatus(meta);
  const before = new Map((all[instance]?.peers ?? []).map((p) => [p.peer, p]));
  const base = baseline.get(instance) ?? new Map<string, PeerState>();
  baseline.set(instance, base);
  const peers = status.peers.map((p) => {
    // The first write of a process adopts the stored counters as its starting point.
    if (!base.has(p.peer)) base.set(p.peer, before.get(p.peer) ?? zero(p.peer));
    const b = base.get(p.peer)!;
    return {
      ...b,
      ...p,
      sessions: b.sessions + p.sessions,
      failures: b.failures + p.failures,
      fetched: b.fetched + p.fetched,
      sent: b.sent + p.sent,
      refused: b.refused + p.refused,
      skipped: b.skipped + p.skipped,
      busy: (b.busy ?? 0) + (p.busy ?? 0),
      dropped: (b.dropped ?? 0) + (p.dropped ?? 0),
      lastSync: p.lastSync ?? b.lastSync,
      lastError: p.lastError ?? b.lastError,
      lastErrorCode: p.lastErrorCode ?? b.lastErrorCode,
      lastErrorAt: p.lastErrorAt ?? b.lastErrorAt,
    };
  });
  all[instance] = { ...status, peers };
  await meta.setMeta(STATUS_META, JSON.stringify(all));
}

/** Per process: each instance's stored counters when this process first wrote them. */
const baseline = new Map<string, Map<string, PeerState>>();

/** A peer's record before any sync. */
export const zeroState = (peer: string): PeerState => ({ peer, sessions: 0, failures: 0, fetched: 0, sent: 0, refused: 0, skipped: 0, busy: 0, dropped: 0 });
const zero = zeroState;

const label = (s: string) => s.replace(/["\\\n]/g, '');

/** The recon families of `/metrics`, from the stored status; '' when recon never ran on this store. */
export function formatMetrics(status: ReconStatus, refused: Record<string, number>): string {
  const entries = Object.entries(status);
  if (entries.length === 0 && Object.keys(refused).length === 0) return '';
  const out: string[] = [];
  const family = (name: string, type: string, help: string, rows: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...rows);
  };
  const each = (f: (inst: string, p: PeerState) => string | undefined) =>
    entries.flatMap(([inst, s]) => s.peers.map((p) => f(`instance="${label(inst)}",peer="${label(p.peer)}"`, p)).filter((x): x is string => x !== undefined));
  family('keyserver_recon_sessions_total', 'counter', 'Recon sessions with a peer (both directions).', each((l, p) => `keyserver_recon_sessions_total{${l}} ${p.sessions}`));
  family('keyserver_recon_failures_total', 'counter', 'Recon sessions or fetches with a peer that failed.', each((l, p) => `keyserver_recon_failures_total{${l}} ${p.failures}`));
  family('keyserver_recon_fetched_total', 'counter', 'Certificates fetched from a peer that changed the store.', each((l, p) => `keyserver_recon_fetched_total{${l}} ${p.fetched}`));
  family(
    'keyserver_recon_sent_total',
    'counter',
    'Elements a peer lacked that our side of the sessions learnt of (all when we initiated, a part when we answered): a lower bound of what it could fetch from us.',
    each((l, p) => `keyserver_recon_sent_total{${l}} ${p.sent}`),
  );
  family('keyserver_recon_busy_total', 'counter', 'Sync attempts with a peer skipped because one side was busy (not failures).', each((l, p) => `keyserver_recon_busy_total{${l}} ${p.busy ?? 0}`));
  family('keyserver_recon_dropped_total', 'counter', 'Elements a peer offered that are not MD5 digests, dropped.', each((l, p) => `keyserver_recon_dropped_total{${l}} ${p.dropped ?? 0}`));
  family('keyserver_recon_refused_total', 'counter', 'Digests a peer offered that the ingest refused (trimmed, rejected, blocked...).', each((l, p) => `keyserver_recon_refused_total{${l}} ${p.refused}`));
  family('keyserver_recon_skipped_total', 'counter', 'Digests a peer offered again that were skipped as refused before.', each((l, p) => `keyserver_recon_skipped_total{${l}} ${p.skipped}`));
  family('keyserver_recon_last_sync_seconds', 'gauge', 'When the last successful sync with a peer ended, Unix seconds.', each((l, p) => (p.lastSync === undefined ? undefined : `keyserver_recon_last_sync_seconds{${l}} ${p.lastSync}`)));
  family('keyserver_recon_last_error_seconds', 'gauge', 'When the last failed sync with a peer ended, Unix seconds.', each((l, p) => (p.lastErrorAt === undefined ? undefined : `keyserver_recon_last_error_seconds{${l}} ${p.lastErrorAt}`)));
  family(
    'keyserver_recon_rejected_connections',
    'gauge',
    'Recon connections refused since the recon process started: the address is not in the membership file.',
    entries.map(([inst, s]) => `keyserver_recon_rejected_connections{instance="${label(inst)}"} ${s.rejectedConnections}`),
  );
  family(
    'keyserver_recon_refused_digests',
    'gauge',
    'Digests remembered as refused (not fetched again until they expire), by reason.',
    Object.entries(refused).map(([k, v]) => `keyserver_recon_refused_digests{reason="${label(k)}"} ${v}`),
  );
  return `${out.join('\n')}\n`;
}

const iso = (t: UnixTime | undefined) => (t === undefined ? 'never' : new Date(t * 1000).toISOString());

/** The recon part of `op=stats`: text lines and the machine-readable object. */
export function formatStats(status: ReconStatus, refused: Record<string, number>): { text: string; json: Record<string, unknown> } {
  const lines: string[] = [];
  for (const [inst, s] of Object.entries(status)) {
    lines.push(`recon ${inst} (HTTP port ${s.httpPort}), peers:`);
    for (const p of s.peers) {
      lines.push(
        `  ${p.peer}: last sync ${iso(p.lastSync)}, ${p.sessions} sessions (${p.failures} failed), ${p.busy ? `, ${p.busy} skipped as busy` : ''}, ${p.fetched} fetched, ${p.sent} it lacked that we learnt of, ${p.refused} refused, ${p.skipped} skipped${p.dropped ? `, ${p.dropped} bad elements dropped` : ''}${p.lastError ? `; last error ${iso(p.lastErrorAt)}: ${p.lastError}` : ''}`,
      );
    }
  }
  const r = Object.entries(refused);
  if (r.length > 0) lines.push(`recon refused digests: ${r.map(([k, v]) => `${v} ${k}`).join(', ')}`);
  return { text: lines.length > 0 ? `${lines.join('\n')}\n` : '', json: Object.keys(status).length > 0 || r.length > 0 ? { recon: { instances: status, refused } } : {} };
}

/** The section the HKP server adds to `/metrics` and `op=stats` (src/hkp/server.ts `status`), read from the store. */
export function reconStatusSection(store: Pick<Store, 'meta'>): { metrics(): Promise<string>; stats(): Promise<{ text: string; json: Record<string, unknown> }> } {
  const refused = new RefusedDigests(store.meta);
  const read = async () => [await readStatus(store.meta), await refused.counts()] as const;
  return {
    metrics: async () => formatMetrics(...(await read())),
    stats: async () => formatStats(...(await read())),
  };
}
