/**
 * The persistent SKS prefix trees (`ReconTrees`, types.ts), for both back ends: what a tree
 * does with the change feed, the digests and its node rows, over a small `ReconTreeBackend`
 * that each back end implements with its own SQL (sqlite/recon-tree.ts, postgres/recon-tree.ts).
 *
 * Node rows follow src/recon/ptree.ts's top comment: one row per node, keyed by its prefix
 * (`encodeBitstring` bytes), holding size, samples and a leaf's elements (17-byte little-endian
 * each, zp.ts). Every change runs `NodeStorePrefixTree` over an overlay that reads rows and
 * keeps writes in memory; the writes are then committed in one transaction, only if the tree's
 * generation is still the one read first (optimistic: several processes may catch up at once,
 * and no transaction stays open across awaits, which a shared SQLite connection cannot afford).
 * Not here: the recon protocol (src/recon), SQL.
 */
import { EnvironmentError, MsError } from '../errors.js';
import { Bitstring, childIndex, childKey, decodeBitstring, encodeBitstring } from '../recon/bitstring.js';
import { type NodeData, type NodeStore, NodeStorePrefixTree, type ReconSettings, samplesOf, splitThreshold } from '../recon/ptree.js';
import { DIGEST_BYTES, ZP_BYTES, zpFromBytes, zpFromDigest, zpMul, zpToBytes } from '../recon/zp.js';
import type { Change, ReconTree, ReconTrees } from './types.js';

/**
 * The node row format this code writes. A tree written in another (older code) is rebuilt by
 * the next `catchUp`; 0 marks a tree never built.
 */
export const TREE_FORMAT = 1;

/** Changes applied per transaction: bounds what one commit writes and how long it takes. */
export const CATCH_UP_CHUNK = 2000;

/** A backlog longer than this, and than the tree's size, is rebuilt rather than replayed. */
export const REBUILD_BACKLOG = 10_000;

/** The tree's own row. */
export interface TreeState {
  /** The change seq the nodes reflect. */
  seq: number;
  /** Bumped by every commit; a commit expecting another one is refused. */
  gen: number;
  /** The node format (`TREE_FORMAT`); 0 for a tree never built. */
  format: number;
}

/** A node as stored. */
export interface NodeRow {
  /** `encodeBitstring` of the prefix. */
  key: Buffer;
  size: number;
  /** The samples, 17 bytes little-endian each. */
  svalues: Buffer;
  /** A leaf's elements, 17 bytes little-endian each; null for an internal node. */
  elements: Buffer | null;
}

/** One commit: node rows to write and delete, and the tree's new seq and format. */
export interface TreeWrite {
  /** Commit only while the tree's gen is this; undefined: always (a rebuild). */
  expectGen?: number;
  seq: number;
  format: number;
  /** Delete every node of the tree first (a rebuild). */
  replace: boolean;
  puts: NodeRow[];
  deletes: Buffer[];
}

/** What a back end provides: the tree's rows, and the store's feed and digests. Trees are named by their settings. */
export interface ReconTreeBackend {
  /** The tree's row; `{ seq: 0, gen: 0, format: 0 }` when it was never written. */
  state(tree: string): Promise<TreeState>;
  /** The rows with these keys that exist, in any order. */
  nodes(tree: string, keys: readonly Buffer[]): Promise<NodeRow[]>;
  /** `ChangeFeed.latest` and `since`. */
  latest(): Promise<number>;
  since(after: number, limit: number): Promise<Change[]>;
  /** Which of these digests some stored certificate has now, as hex. */
  present(digests: readonly Buffer[]): Promise<Set<string>>;
  /** `DigestIndex.digests`. */
  digests(): AsyncIterable<Buffer>;
  /**
   * In one transaction: when the tree's gen is `expectGen` (a tree never written has gen 0),
   * applies the write, sets seq and format and bumps gen; false, writing nothing, otherwise.
   * @throws EnvironmentError (MS_STORE_READONLY) on a read-only store.
   */
  commit(tree: string, write: TreeWrite): Promise<boolean>;
}

/** The name a tree is stored under: its settings. */
export function treeName(s: ReconSettings): string {
  return `${s.bitQuantum}/${s.mbar}/${s.threshMult}/${s.numSamples}`;
}

function packZp(xs: readonly bigint[]): Buffer {
  return Buffer.concat(xs.map(zpToBytes));
}

function unpackZp(buf: Buffer): bigint[] {
  if (buf.length % ZP_BYTES !== 0) throw new EnvironmentError('MS_STORE_CORRUPT', `a prefix tree row holds ${buf.length} bytes of field elements`, { hints: ['rebuild the prefix tree'] });
  const out = new Array<bigint>(buf.length / ZP_BYTES);
  for (let i = 0; i < out.length; i++) out[i] = zpFromBytes(buf.subarray(i * ZP_BYTES, (i + 1) * ZP_BYTES));
  return out;
}

export function encodeNode(n: NodeData): NodeRow {
  return { key: encodeBitstring(n.key), size: n.size, svalues: packZp(n.svalues), elements: n.elements === null ? null : packZp(n.elements) };
}

export function decodeNode(r: NodeRow): NodeData {
  return { key: decodeBitstring(r.key).value, size: r.size, svalues: unpackZp(r.svalues), elements: r.elements === null ? null : unpackZp(r.elements) };
}

/**
 * Nodes read from the rows once, then kept with every change in memory until `writes()`
 * collects them for one commit. `prefetch` reads the paths of many elements a level at a time,
 * so a chunk of changes costs a round trip per level rather than per node.
 */
class OverlayNodeStore implements NodeStore {
  /** By `Bitstring.toString()`: the node, or undefined when absent or deleted. */
  readonly #nodes = new Map<string, NodeData | undefined>();
  readonly #dirty = new Set<string>();

  constructor(
    private readonly backend: ReconTreeBackend,
    private readonly tree: string,
    private readonly settings: ReconSettings,
  ) {}

  get(key: Bitstring): NodeData | undefined | Promise<NodeData | undefined> {
    const k = key.toString();
    if (this.#nodes.has(k)) return this.#nodes.get(k);
    return this.load([key]).then(() => this.#nodes.get(k));
  }

  put(node: NodeData): void {
    const k = node.key.toString();
    this.#nodes.set(k, node);
    this.#dirty.add(k);
  }

  delete(key: Bitstring): void {
    const k = key.toString();
    this.#nodes.set(k, undefined);
    this.#dirty.add(k);
  }

  async prefetch(elements: readonly bigint[]): Promise<void> {
    const q = this.settings.bitQuantum;
    let frontier = elements.map((z) => ({ z, key: Bitstring.EMPTY, depth: 0 }));
    while (frontier.length > 0) {
      const missing = new Map<string, Bitstring>();
      for (const f of frontier) if (!this.#nodes.has(f.key.toString())) missing.set(f.key.toString(), f.key);
      await this.load([...missing.values()]);
      const next: typeof frontier = [];
      for (const f of frontier) {
        const node = this.#nodes.get(f.key.toString());
        if (node && node.elements === null) next.push({ z: f.z, key: childKey(f.key, childIndex(f.z, f.depth, q), q), depth: f.depth + 1 });
      }
      frontier = next;
    }
  }

  /** The rows to write and delete. */
  writes(): { puts: NodeRow[]; deletes: Buffer[] } {
    const puts: NodeRow[] = [];
    const deletes: Buffer[] = [];
    for (const k of this.#dirty) {
      const node = this.#nodes.get(k);
      if (node) puts.push(encodeNode(node));
      else deletes.push(encodeBitstring(Bitstring.parse(k)));
    }
    return { puts, deletes };
  }

  private async load(keys: readonly Bitstring[]): Promise<void> {
    const BATCH = 1000;
    for (let i = 0; i < keys.length; i += BATCH) {
      const part = keys.slice(i, i + BATCH);
      const rows = await this.backend.nodes(this.tree, part.map(encodeBitstring));
      for (const k of part) if (!this.#nodes.has(k.toString())) this.#nodes.set(k.toString(), undefined);
      for (const r of rows) {
        const node = decodeNode(r);
        const k = node.key.toString();
        if (!this.#dirty.has(k)) this.#nodes.set(k, node);
      }
    }
  }
}

/** Node rows read one at a time, for readers (the tree's own `store`); writes go through commits. */
class RowNodeStore implements NodeStore {
  constructor(
    private readonly backend: ReconTreeBackend,
    private readonly tree: string,
  ) {}

  async get(key: Bitstring): Promise<NodeData | undefined> {
    const [row] = await this.backend.nodes(this.tree, [encodeBitstring(key)]);
    return row ? decodeNode(row) : undefined;
  }

  put(): never {
    throw new MsError('MS_RECON_INTERNAL', 'a stored prefix tree is written through its commits');
  }

  delete(): never {
    throw new MsError('MS_RECON_INTERNAL', 'a stored prefix tree is written through its commits');
  }
}

/**
 * The nodes of the tree holding `elements` (distinct, none a sample point), built at once: the
 * same nodes inserting them one by one gives, since with inserts only a node is internal
 * exactly when more than `splitThreshold` elements lie under it, and its samples are the
 * product of its children's.
 */
export function buildNodes(elements: readonly bigint[], settings: ReconSettings, points: readonly bigint[]): NodeData[] {
  const out: NodeData[] = [];
  const q = settings.bitQuantum;
  const build = (key: Bitstring, depth: number, els: readonly bigint[]): NodeData => {
    if (els.length <= splitThreshold(settings)) {
      const leaf = { key, size: els.length, svalues: samplesOf(points, els), elements: [...els] };
      out.push(leaf);
      return leaf;
    }
    const groups: bigint[][] = Array.from({ length: 1 << q }, () => []);
    for (const z of els) groups[childIndex(z, depth, q)].push(z);
    const svalues = new Array<bigint>(points.length).fill(1n);
    for (const [i, g] of groups.entries()) {
      const child = build(childKey(key, i, q), depth + 1, g);
      for (let j = 0; j < svalues.length; j++) svalues[j] = zpMul(svalues[j], child.svalues[j]);
    }
    const node = { key, size: els.length, svalues, elements: null };
    out.push(node);
    return node;
  };
  build(Bitstring.EMPTY, 0, elements);
  return out;
}

/** One persisted tree (see `ReconTree`). Holds nothing but its name: every read goes to the rows. */
export class StoredReconTree extends NodeStorePrefixTree implements ReconTree {
  readonly name: string;

  constructor(
    private readonly backend: ReconTreeBackend,
    settings: ReconSettings,
  ) {
    super(new RowNodeStore(backend, treeName(settings)), settings);
    this.name = treeName(settings);
  }

  async seq(): Promise<number> {
    return (await this.backend.state(this.name)).seq;
  }

  override async insert(element: bigint): Promise<void> {
    await this.mutate((t) => t.insert(element));
  }

  override async remove(element: bigint): Promise<void> {
    await this.mutate((t) => t.remove(element));
  }

  async catchUp(): Promise<number> {
    const target = await this.backend.latest();
    for (;;) {
      const state = await this.backend.state(this.name);
      if (state.format !== TREE_FORMAT) {
        await this.rebuild();
        continue;
      }
      if (state.seq >= target) return state.seq;
      const changes = await this.backend.since(state.seq, CATCH_UP_CHUNK);
      // Both back ends number changes without gaps (the counter rolls back with its
      // transaction), so a first change past seq + 1 means the ones between were pruned; a
      // gap that was never pruned would only cost a needless rebuild.
      const pruned = changes.length === 0 || changes[0].seq !== state.seq + 1;
      if (pruned || target - state.seq > Math.max(REBUILD_BACKLOG, (await this.root()).size)) {
        await this.rebuild();
        continue;
      }
      // A commit refused because another process committed first is simply tried again from its state.
      await this.apply(state, changes);
    }
  }

  async rebuild(): Promise<number> {
    // The seq first: a change after it that the digests below already show is applied again
    // by the next catchUp, which sets each digest it names to what the index says.
    const seq = await this.backend.latest();
    const elements: bigint[] = [];
    for await (const d of this.backend.digests()) {
      const z = this.element(d);
      if (z !== undefined) elements.push(z);
    }
    const puts = buildNodes(elements, this.settings, this.points).map(encodeNode);
    await this.backend.commit(this.name, { seq, format: TREE_FORMAT, replace: true, puts, deletes: [] });
    return elements.length;
  }

  /** Applies `changes` (seq state.seq + 1 on) in one commit; false when another commit came first. */
  private async apply(state: TreeState, changes: readonly Change[]): Promise<boolean> {
    const touched = new Map<string, Buffer>();
    for (const c of changes) {
      if (c.added) touched.set(c.added.toString('hex'), c.added);
      if (c.removed) touched.set(c.removed.toString('hex'), c.removed);
    }
    // What the index says now, not what each change said: a digest shared by two certificates
    // (an MD5 collision) stays while one is left, and a later change only sets it again.
    const present = await this.backend.present([...touched.values()]);
    const wanted: Array<{ z: bigint; want: boolean }> = [];
    for (const [hex, d] of [...touched].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const z = this.element(d);
      if (z !== undefined) wanted.push({ z, want: present.has(hex) });
    }
    const overlay = new OverlayNodeStore(this.backend, this.name, this.settings);
    await overlay.prefetch(wanted.map((w) => w.z));
    const tree = new NodeStorePrefixTree(overlay, this.settings);
    for (const { z, want } of wanted) {
      const has = await tree.has(z);
      if (want && !has) await tree.insert(z);
      else if (!want && has) await tree.remove(z);
    }
    const seq = changes[changes.length - 1].seq;
    return this.backend.commit(this.name, { expectGen: state.gen, seq, format: TREE_FORMAT, replace: false, ...overlay.writes() });
  }

  /** Runs one change on the rows and commits it, again from the new state when another commit came first. */
  private async mutate(change: (tree: NodeStorePrefixTree) => Promise<void>): Promise<void> {
    for (;;) {
      const state = await this.backend.state(this.name);
      const overlay = new OverlayNodeStore(this.backend, this.name, this.settings);
      await change(new NodeStorePrefixTree(overlay, this.settings));
      if (await this.backend.commit(this.name, { expectGen: state.gen, seq: state.seq, format: state.format, replace: false, ...overlay.writes() })) return;
    }
  }

  /** The element a stored digest stands for; undefined for one that cannot be in the tree (a sample point, or not a digest). */
  private element(digest: Buffer): bigint | undefined {
    if (digest.length !== DIGEST_BYTES) return undefined;
    const z = zpFromDigest(digest);
    return this.points.includes(z) ? undefined : z;
  }
}

/** `ReconTrees` over a back end. */
export class StoredReconTrees implements ReconTrees {
  constructor(private readonly backend: ReconTreeBackend) {}

  async open(settings: ReconSettings): Promise<StoredReconTree> {
    return new StoredReconTree(this.backend, settings);
  }
}
