/**
 * One recon session over a prefix tree, in either role (SKS server.ml and client.ml, conflux
 * gossip.go and peer.go). The side that connected (the initiator) answers: it interpolates the
 * other's samples and returns Elements, FullElements or SyncFail. The side that accepted (the
 * responder) walks its tree from the root, sending ReconRqstPoly or ReconRqstFull in batches
 * ended by Flush, recursing into the children of a node that failed, and ends with Done.
 * Both learn the elements they lack. Not here: sockets, membership, gossip, fetching keys.
 */
import type { Duplex } from 'node:stream';
import { InputError, MsError, TemporaryError } from '../errors.js';
import { type Bitstring, elementHasPrefix } from './bitstring.js';
import { exchangeConfig, type ExchangeOptions, type LocalConfig, type PeerConfig } from './config.js';
import { reconcileSamples } from './interpolate.js';
import { type PrefixNode, type PrefixTree, samplesOf } from './ptree.js';
import { type ChannelOptions, ReconChannel, type ReconMessage } from './wire.js';

export interface SessionOptions {
  /**
   * Most elements one session recovers (SKS `max_recover`, 2000): past it the responder stops
   * asking and the initiator stops answering; the result says `truncated`, and the next
   * session picks up the rest.
   */
  readonly maxRecover?: number;
  /**
   * A node is sent in full (ReconRqstFull, FullElements) below reconThreshMult·mbar elements
   * (SKS `recon_thresh_mult`, 30 in 1.1.6: seen on the wire, test/fixtures/recon).
   */
  readonly reconThreshMult?: number;
  /** Requests the responder sends before a Flush and waiting for their answers (SKS `max_outstanding_recon_requests`). */
  readonly maxOutstanding?: number;
  /** The whole session (config exchange included in `runSession`) ends by then, in ms (SKS `reconciliation_timeout`: 1 h). */
  readonly deadlineMs?: number;
}

export const DEFAULT_MAX_RECOVER = 2000;
export const DEFAULT_RECON_THRESH_MULT = 30;
const DEFAULT_MAX_OUTSTANDING = 100;
const DEFAULT_DEADLINE_MS = 10 * 60_000;

export interface ReconResult {
  /** Elements the peer has and we lack: fetch them from the peer. Complete unless `truncated`. */
  readonly localMissing: bigint[];
  /**
   * Elements we have and the peer lacks, as far as this side learns them: each side computes
   * the difference of the nodes it answers, so the rest the peer finds itself.
   */
  readonly peerMissing: bigint[];
  /** Whether `maxRecover` cut the session short. */
  readonly truncated: boolean;
}

function protocol(what: string, data: Record<string, unknown> = {}): InputError {
  return new InputError('MS_RECON_PROTOCOL', `recon protocol violation: ${what}`, { data });
}

function peerError(text: string): TemporaryError {
  return new TemporaryError('MS_RECON_PEER_ERROR', `recon peer reported an error: ${text.slice(0, 200)}`, { data: { text: text.slice(0, 1000) } });
}

/** Collects what a session learns, under the cap. */
class Tally {
  readonly localMissing = new Set<bigint>();
  readonly peerMissing = new Set<bigint>();
  truncated = false;
  constructor(private readonly cap: number) {}

  get full(): boolean {
    return this.localMissing.size >= this.cap;
  }

  async addMissing(tree: PrefixTree, elements: Iterable<bigint>): Promise<void> {
    for (const e of elements) {
      if (this.localMissing.has(e)) continue;
      // A peer's claim is checked: what we already hold is not missing.
      if (await tree.has(e)) continue;
      if (this.full) {
        this.truncated = true;
        return;
      }
      this.localMissing.add(e);
    }
  }

  addPeerMissing(elements: Iterable<bigint>): void {
    for (const e of elements) this.peerMissing.add(e);
  }

  result(): ReconResult {
    const sort = (s: Set<bigint>) => [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { localMissing: sort(this.localMissing), peerMissing: sort(this.peerMissing), truncated: this.truncated };
  }
}

const ascending = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

function settingsOf(tree: PrefixTree, opts: SessionOptions) {
  return {
    cap: opts.maxRecover ?? DEFAULT_MAX_RECOVER,
    fullBelow: (opts.reconThreshMult ?? DEFAULT_RECON_THRESH_MULT) * tree.settings.mbar,
    maxOutstanding: Math.max(1, opts.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING),
  };
}

/** Runs `body` and aborts the channel if it is not done by the deadline, so reads fail with MS_RECON_TIMEOUT. */
async function withDeadline<T>(ch: ReconChannel, deadlineMs: number | undefined, body: () => Promise<T>): Promise<T> {
  const ms = deadlineMs ?? DEFAULT_DEADLINE_MS;
  const timer = setTimeout(
    () => ch.abort(new TemporaryError('MS_RECON_TIMEOUT', `recon session not done within ${ms} ms`, { data: { deadlineMs: ms } })),
    ms,
  );
  try {
    return await body();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The node for a prefix the peer names, and its elements or samples. Our tree may stop above
 * the prefix (the peer's is deeper there): the answer is then made from our leaf's elements
 * under the prefix, so it is about exactly the prefix asked for.
 */
async function localNode(tree: PrefixTree, prefix: Bitstring): Promise<{ node: PrefixNode; exact: boolean }> {
  if (prefix.length % tree.settings.bitQuantum !== 0) {
    throw protocol(`a prefix of ${prefix.length} bits is not whole levels of ${tree.settings.bitQuantum} bits`, { bits: prefix.length });
  }
  const node = await tree.node(prefix);
  return { node, exact: node.key.length === prefix.length };
}

async function elementsUnder(tree: PrefixTree, prefix: Bitstring): Promise<bigint[]> {
  const { node, exact } = await localNode(tree, prefix);
  const all = await node.elements();
  return exact ? all : all.filter((e) => elementHasPrefix(e, prefix));
}

/**
 * The initiator's part (we connected; SKS `Server.handle`): answers the peer's requests until
 * Done. Answers are sent when the peer asks for them with Flush.
 * @throws InputError MS_RECON_PROTOCOL, MS_RECON_MALFORMED, MS_RECON_LIMIT; TemporaryError
 *   MS_RECON_PEER_ERROR (the peer sent Error), MS_RECON_TIMEOUT, MS_RECON_CLOSED.
 */
export function reconcileAsInitiator(ch: ReconChannel, tree: PrefixTree, opts: SessionOptions = {}): Promise<ReconResult> {
  const { cap, fullBelow } = settingsOf(tree, opts);
  const tally = new Tally(cap);
  return withDeadline(ch, opts.deadlineMs, async () => {
    let out: ReconMessage[] = [];
    for (;;) {
      const m = await ch.read();
      switch (m.type) {
        case 'ReconRqstPoly': {
          if (m.samples.length !== tree.points.length) {
            throw protocol(`${m.samples.length} samples where we use ${tree.points.length}`, { samples: m.samples.length });
          }
          const { node, exact } = await localNode(tree, m.prefix);
          let local = { svalues: node.svalues, size: node.size };
          let elements: bigint[] | undefined;
          if (!exact) {
            elements = (await node.elements()).filter((e) => elementHasPrefix(e, m.prefix));
            local = { svalues: samplesOf(tree.points, elements), size: elements.length };
          }
          const sol = reconcileSamples({ svalues: m.samples, size: m.size }, local, tree.points);
          if (sol.ok) {
            await tally.addMissing(tree, sol.remoteOnly);
            tally.addPeerMissing(sol.localOnly);
            out.push({ type: 'Elements', elements: [...sol.localOnly].sort(ascending) });
          } else if (node.isLeaf || local.size < fullBelow) {
            elements ??= await node.elements();
            out.push({ type: 'FullElements', elements: [...elements].sort(ascending) });
          } else {
            out.push({ type: 'SyncFail' });
          }
          break;
        }
        case 'ReconRqstFull': {
          const mine = new Set(await elementsUnder(tree, m.prefix));
          const theirs = new Set(m.elements);
          const theyLack = [...mine].filter((e) => !theirs.has(e)).sort(ascending);
          await tally.addMissing(
            tree,
            m.elements.filter((e) => !mine.has(e)),
          );
          tally.addPeerMissing(theyLack);
          out.push({ type: 'Elements', elements: theyLack });
          break;
        }
        case 'Elements':
          await tally.addMissing(tree, m.elements);
          break;
        case 'Flush':
          await ch.send(out);
          out = [];
          break;
        case 'Done':
          if (out.length > 0) await ch.send(out);
          return tally.result();
        case 'Error':
          throw peerError(m.text);
        default:
          throw protocol(`${m.type} sent to the initiator`, { msgType: m.type });
      }
      // Past the cap we stop answering; the peer keeps what it learnt (SKS handles the EOF so).
      if (tally.truncated) return tally.result();
    }
  });
}

/**
 * The responder's part (the peer connected; SKS `Client.handle`): walks our tree from the
 * root, at most `maxOutstanding` requests per round trip, then sends Done.
 * @throws as `reconcileAsInitiator`.
 */
export function reconcileAsResponder(ch: ReconChannel, tree: PrefixTree, opts: SessionOptions = {}): Promise<ReconResult> {
  const { cap, fullBelow, maxOutstanding } = settingsOf(tree, opts);
  const tally = new Tally(cap);
  return withDeadline(ch, opts.deadlineMs, async () => {
    const queue: PrefixNode[] = [await tree.root()];
    let out: ReconMessage[] = [];
    while (queue.length > 0 && !tally.full) {
      const batch = queue.splice(0, maxOutstanding);
      for (const node of batch) {
        if (node.isLeaf || node.size < fullBelow) {
          out.push({ type: 'ReconRqstFull', prefix: node.key, elements: [...(await node.elements())].sort(ascending) });
        } else {
          out.push({ type: 'ReconRqstPoly', prefix: node.key, size: node.size, samples: node.svalues });
        }
      }
      out.push({ type: 'Flush' });
      await ch.send(out);
      out = [];
      // Every request gets exactly one answer, in order.
      for (const node of batch) {
        const m = await ch.read();
        switch (m.type) {
          case 'SyncFail': {
            if (node.isLeaf) throw protocol('SyncFail for a leaf, which was sent in full');
            queue.push(...(await node.children()));
            break;
          }
          case 'Elements':
            await tally.addMissing(
              tree,
              m.elements.filter((e) => elementHasPrefix(e, node.key)),
            );
            break;
          case 'FullElements': {
            const mine = new Set(await node.elements());
            const theirs = m.elements.filter((e) => elementHasPrefix(e, node.key));
            const theirSet = new Set(theirs);
            const theyLack = [...mine].filter((e) => !theirSet.has(e)).sort(ascending);
            await tally.addMissing(
              tree,
              theirs.filter((e) => !mine.has(e)),
            );
            tally.addPeerMissing(theyLack);
            out.push({ type: 'Elements', elements: theyLack });
            break;
          }
          case 'Error':
            throw peerError(m.text);
          default:
            throw protocol(`${m.type} in answer to a request`, { msgType: m.type });
        }
      }
    }
    if (queue.length > 0) tally.truncated = true;
    out.push({ type: 'Done' });
    await ch.send(out);
    return tally.result();
  });
}

export type Role = 'initiator' | 'responder';

export interface RunOptions extends SessionOptions, ChannelOptions, ExchangeOptions {}

export interface SessionResult extends ReconResult {
  /** The peer's config: its `httpPort` is where to fetch `localMissing` from. */
  readonly peer: PeerConfig;
}

/**
 * A whole session on a fresh connection: the Config exchange, then our role's part; the
 * connection is closed afterwards, whatever happened (destroyed on error). `config`'s
 * bitQuantum and mbar must be the tree's.
 * @throws what `exchangeConfig` and the role's function throw.
 */
export async function runSession(conn: Duplex, role: Role, tree: PrefixTree, config: LocalConfig, opts: RunOptions = {}): Promise<SessionResult> {
  if (config.bitQuantum !== tree.settings.bitQuantum || config.mbar !== tree.settings.mbar) {
    throw new RangeError(`recon config (bitquantum ${config.bitQuantum}, mbar ${config.mbar}) is not the tree's`);
  }
  const ch = new ReconChannel(conn, opts);
  try {
    const result = await withDeadline(ch, opts.deadlineMs, async () => {
      const peer = await exchangeConfig(ch, config, opts);
      const r = role === 'initiator' ? await reconcileAsInitiator(ch, tree, opts) : await reconcileAsResponder(ch, tree, opts);
      return { ...r, peer };
    });
    ch.close();
    return result;
  } catch (err) {
    // Our "failed" answer is still to be flushed; anything else ends the connection at once.
    if (err instanceof MsError && err.code === 'MS_RECON_CONFIG') ch.close();
    else ch.abort(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
}
