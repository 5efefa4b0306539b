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
import { Bitstring, childKey, elementHasPrefix } from './bitstring.js';
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
  /**
   * Most answers the initiator holds for a peer that has not sent Flush; one more ends the
   * session with MS_RECON_LIMIT. SKS and conflux flush after at most
   * max_outstanding_recon_requests + 1 (101) requests; the default, 1000, leaves room for peers
   * configured higher.
   */
  readonly maxUnflushed?: number;
  /**
   * Most of our elements one session sends the peer in answers (Elements, FullElements),
   * 4 × maxRecover by default. Past it answers are cut short: the peer learns the rest in later
   * sessions, as we do past maxRecover. It also bounds how much of the tree one answer reads.
   */
  readonly maxSendElements?: number;
  /** The whole session (config exchange included in `runSession`) ends by then, in ms (SKS `reconciliation_timeout`: 1 h). */
  readonly deadlineMs?: number;
}

export const DEFAULT_MAX_RECOVER = 2000;
export const DEFAULT_RECON_THRESH_MULT = 30;
const DEFAULT_MAX_OUTSTANDING = 100;
const DEFAULT_MAX_UNFLUSHED = 1000;
const DEFAULT_DEADLINE_MS = 10 * 60_000;

/**
 * Work between two yields to the event loop, in elements looked at; a node read counts as
 * NODE_READ of them. Tree reads may be synchronous (SQLite), and awaiting them only runs
 * microtasks, so without yields a walk of a big tree would stall every other connection.
 */
const YIELD_EVERY = 1024;
const NODE_READ = 16;

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

function overLimit(what: string, data: Record<string, unknown> = {}): InputError {
  return new InputError('MS_RECON_LIMIT', `recon session over limit: ${what}`, { data });
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

  async addMissing(tree: PrefixTree, elements: Iterable<bigint>, pace: Pacer): Promise<void> {
    for (const e of elements) {
      if (this.localMissing.has(e)) continue;
      await pace.spend(NODE_READ);
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

/** Counts a session's work and yields to the event loop every YIELD_EVERY units of it. */
class Pacer {
  private units = 0;

  async spend(units: number): Promise<void> {
    this.units += units;
    if (this.units < YIELD_EVERY) return;
    this.units = 0;
    await new Promise(setImmediate);
  }
}

/** What is left of `maxSendElements`. */
class SendBudget {
  constructor(public left: number) {}

  /** The first elements of `xs` that still fit, counted as sent. */
  take(xs: readonly bigint[]): bigint[] {
    const out = xs.slice(0, this.left);
    this.left -= out.length;
    return out;
  }
}

const ascending = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

function settingsOf(tree: PrefixTree, opts: SessionOptions) {
  const cap = opts.maxRecover ?? DEFAULT_MAX_RECOVER;
  return {
    cap,
    fullBelow: (opts.reconThreshMult ?? DEFAULT_RECON_THRESH_MULT) * tree.settings.mbar,
    maxOutstanding: Math.max(1, opts.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING),
    maxUnflushed: Math.max(1, opts.maxUnflushed ?? DEFAULT_MAX_UNFLUSHED),
    send: new SendBudget(Math.max(0, opts.maxSendElements ?? 4 * cap)),
    pace: new Pacer(),
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

/**
 * Our side of a full exchange for `prefix` (a ReconRqstFull, or FullElements from the peer):
 * our elements under it that are not in `theirs`, at most `max` of them, and those of
 * `theirs` met on the way. The subtree is read leaf by leaf and the walk stops at the
 * `max + 1`-th element the peer lacks, so however big our node (an honest peer's may be far
 * smaller: SKS sends Full below 150 of ITS elements), what is read is bounded by `max`, the
 * size of `theirs` and one leaf.
 */
async function compareUnder(
  tree: PrefixTree,
  prefix: Bitstring,
  theirs: ReadonlySet<bigint>,
  max: number,
  pace: Pacer,
): Promise<{ theyLack: bigint[]; seen: Set<bigint> }> {
  const { node, exact } = await localNode(tree, prefix);
  await pace.spend(NODE_READ * (prefix.length / tree.settings.bitQuantum + 1));
  const theyLack: bigint[] = [];
  const seen = new Set<bigint>();
  const stack: PrefixNode[] = [node];
  for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
    if (!n.isLeaf) {
      const children = await n.children();
      await pace.spend(NODE_READ * children.length);
      stack.push(...children);
      continue;
    }
    const elements = await n.elements();
    await pace.spend(elements.length);
    for (const e of elements) {
      // A leaf above the prefix (our tree is shallower there) holds elements outside it.
      if (!exact && !elementHasPrefix(e, prefix)) continue;
      if (theirs.has(e)) seen.add(e);
      else if (theyLack.length < max) theyLack.push(e);
      else return { theyLack, seen };
    }
  }
  return { theyLack, seen };
}

/**
 * The initiator's part (we connected; SKS `Server.handle`): answers the peer's requests until
 * Done. Answers are sent when the peer asks for them with Flush; a peer that asks for more
 * than `maxUnflushed` without one is dropped, so it cannot make us hold answers without end.
 * @throws InputError MS_RECON_PROTOCOL, MS_RECON_MALFORMED, MS_RECON_LIMIT; TemporaryError
 *   MS_RECON_PEER_ERROR (the peer sent Error), MS_RECON_TIMEOUT, MS_RECON_CLOSED.
 */
export function reconcileAsInitiator(ch: ReconChannel, tree: PrefixTree, opts: SessionOptions = {}): Promise<ReconResult> {
  const { cap, fullBelow, maxUnflushed, send, pace } = settingsOf(tree, opts);
  const tally = new Tally(cap);
  return withDeadline(ch, opts.deadlineMs, async () => {
    let out: ReconMessage[] = [];
    const answer = (m: ReconMessage) => {
      if (out.length >= maxUnflushed) {
        throw overLimit(`more than ${maxUnflushed} answers asked for without a Flush`, { max: maxUnflushed });
      }
      out.push(m);
    };
    for (;;) {
      const m = await ch.read();
      switch (m.type) {
        case 'ReconRqstPoly': {
          if (m.samples.length !== tree.points.length) {
            throw protocol(`${m.samples.length} samples where we use ${tree.points.length}`, { samples: m.samples.length });
          }
          const { node, exact } = await localNode(tree, m.prefix);
          await pace.spend(NODE_READ * (m.prefix.length / tree.settings.bitQuantum + 1));
          let local = { svalues: node.svalues, size: node.size };
          let elements: bigint[] | undefined;
          if (!exact) {
            // Our leaf above the prefix: at most a leaf's elements.
            elements = (await node.elements()).filter((e) => elementHasPrefix(e, m.prefix));
            local = { svalues: samplesOf(tree.points, elements), size: elements.length };
          }
          const sol = reconcileSamples({ svalues: m.samples, size: m.size }, local, tree.points);
          if (sol.ok) {
            await tally.addMissing(tree, sol.remoteOnly, pace);
            const theyLack = send.take([...sol.localOnly].sort(ascending));
            tally.addPeerMissing(theyLack);
            answer({ type: 'Elements', elements: theyLack });
          } else if (node.isLeaf || local.size < fullBelow) {
            // Below fullBelow elements or a leaf's: small whatever the peer says.
            elements ??= await node.elements();
            await pace.spend(elements.length);
            answer({ type: 'FullElements', elements: send.take([...elements].sort(ascending)) });
          } else {
            answer({ type: 'SyncFail' });
          }
          break;
        }
        case 'ReconRqstFull': {
          const { theyLack, seen } = await compareUnder(tree, m.prefix, new Set(m.elements), send.left, pace);
          await tally.addMissing(
            tree,
            m.elements.filter((e) => !seen.has(e)),
            pace,
          );
          const sent = send.take(theyLack.sort(ascending));
          tally.addPeerMissing(sent);
          answer({ type: 'Elements', elements: sent });
          break;
        }
        case 'Elements':
          await tally.addMissing(tree, m.elements, pace);
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
 * root, at most `maxOutstanding` requests per round trip, then sends Done. The walk's queue
 * holds prefixes, not nodes, so a peer failing every node costs a key per node, not the tree.
 * @throws as `reconcileAsInitiator`.
 */
export function reconcileAsResponder(ch: ReconChannel, tree: PrefixTree, opts: SessionOptions = {}): Promise<ReconResult> {
  const { cap, fullBelow, maxOutstanding, send, pace } = settingsOf(tree, opts);
  const q = tree.settings.bitQuantum;
  const tally = new Tally(cap);
  return withDeadline(ch, opts.deadlineMs, async () => {
    const queue: Bitstring[] = [Bitstring.EMPTY];
    let out: ReconMessage[] = [];
    while (queue.length > 0 && !tally.full) {
      const batch: { key: Bitstring; node: PrefixNode }[] = [];
      for (const key of queue.splice(0, maxOutstanding)) {
        const { node, exact } = await localNode(tree, key);
        await pace.spend(NODE_READ * (key.length / q + 1));
        if (node.isLeaf || node.size < fullBelow) {
          // A leaf, or below fullBelow elements: small. A leaf above the key (the tree
          // changed since its parent was read) is cut to the key.
          let elements = await node.elements();
          await pace.spend(elements.length);
          if (!exact) elements = elements.filter((e) => elementHasPrefix(e, key));
          out.push({ type: 'ReconRqstFull', prefix: key, elements: [...elements].sort(ascending) });
        } else {
          out.push({ type: 'ReconRqstPoly', prefix: key, size: node.size, samples: node.svalues });
        }
        batch.push({ key, node });
      }
      out.push({ type: 'Flush' });
      await ch.send(out);
      out = [];
      // Every request gets exactly one answer, in order.
      for (const { key, node } of batch) {
        const m = await ch.read();
        switch (m.type) {
          case 'SyncFail': {
            if (node.isLeaf) throw protocol('SyncFail for a leaf, which was sent in full');
            for (let i = 0; i < 1 << q; i++) queue.push(childKey(key, i, q));
            break;
          }
          case 'Elements':
            await tally.addMissing(
              tree,
              m.elements.filter((e) => elementHasPrefix(e, key)),
              pace,
            );
            break;
          case 'FullElements': {
            const theirs = m.elements.filter((e) => elementHasPrefix(e, key));
            const { theyLack, seen } = await compareUnder(tree, key, new Set(theirs), send.left, pace);
            await tally.addMissing(
              tree,
              theirs.filter((e) => !seen.has(e)),
              pace,
            );
            const sent = send.take(theyLack.sort(ascending));
            tally.addPeerMissing(sent);
            out.push({ type: 'Elements', elements: sent });
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
