/**
 * The prefix tree recon walks (SKS prefixTree.ml, conflux recon/ptree.go): node `key` holds
 * the elements whose bits start with `key`, its size, and the samples of their characteristic
 * polynomial ∏(point − x) at the shared points. A leaf splits into 2^bitQuantum children when
 * it holds more than threshMult·mbar elements; an internal node joins back into a leaf when
 * its size falls to half that or below (SKS `split_thresh`, `join_thresh`). A split goes on
 * down while a child is still over the threshold, so every leaf holds at most threshMult·mbar
 * (SKS splits such a child on its next insert, conflux lets leaves reach one more): the shape
 * can differ from a peer's, the samples of a prefix cannot, and recon compares those.
 *
 * How a backing store uses this module: keep one row per node, keyed by its prefix (the
 * `Bitstring`, e.g. its `encodeBitstring` bytes), holding `NodeData` (size, svalues, and a
 * leaf's elements). Implement `NodeStore` (get, put, delete by key) over those rows and hand it
 * to `NodeStorePrefixTree`: insert and remove then read the path from the root, compute the new
 * rows with the pure functions below (`addToNode`, `removeFromNode`, `splitNode`, `joinNode`)
 * and write them back. Run each insert or remove in one transaction, so a crash never leaves
 * a parent's samples disagreeing with its children's. The memory tree (memory-tree.ts) is that
 * class over a Map.
 *
 * Not here: the arithmetic (zp.ts), interpolation (interpolate.ts), the wire (wire.ts).
 */
import { InputError, MsError } from '../errors.js';
import { Bitstring, childIndex, childKey } from './bitstring.js';
import { isZp, zpInvAll, zpMul, zpPoints, zpSub } from './zp.js';

/** The tree's parameters; peers must agree on bitQuantum and mbar (the Config message). */
export interface ReconSettings {
  /** Bits of prefix per level: 2^bitQuantum children per node. SKS `bitquantum`. */
  readonly bitQuantum: number;
  /** Differences one node's samples can resolve. SKS `mbar`. */
  readonly mbar: number;
  /** A leaf splits above threshMult·mbar elements. SKS `ptree_thresh_mult`. */
  readonly threshMult: number;
  /** Samples per node: mbar + 1 (SKS `num_samples`, conflux `NumSamples`); the last one checks. */
  readonly numSamples: number;
}

/** SKS 1.1.6 and Hockeypuck defaults (SKS settings.ml, conflux recon/settings.go). */
export const DEFAULT_RECON_SETTINGS: ReconSettings = Object.freeze({ bitQuantum: 2, mbar: 5, threshMult: 10, numSamples: 6 });

/** Settings from the parameters that vary; numSamples is derived, as both SKS and conflux derive it. */
export function reconSettings(p: Partial<Omit<ReconSettings, 'numSamples'>> = {}): ReconSettings {
  const bitQuantum = p.bitQuantum ?? DEFAULT_RECON_SETTINGS.bitQuantum;
  const mbar = p.mbar ?? DEFAULT_RECON_SETTINGS.mbar;
  const threshMult = p.threshMult ?? DEFAULT_RECON_SETTINGS.threshMult;
  if (![bitQuantum, mbar, threshMult].every((n) => Number.isInteger(n) && n >= 1) || bitQuantum > 8) {
    throw new RangeError(`bad recon settings: bitQuantum ${bitQuantum}, mbar ${mbar}, threshMult ${threshMult}`);
  }
  return Object.freeze({ bitQuantum, mbar, threshMult, numSamples: mbar + 1 });
}

/** A leaf holding more than this many elements splits (SKS `split_thresh`). */
export function splitThreshold(s: ReconSettings): number {
  return s.threshMult * s.mbar;
}

/** An internal node whose size falls to this or below becomes a leaf again (SKS `join_thresh`). */
export function joinThreshold(s: ReconSettings): number {
  return Math.floor(splitThreshold(s) / 2);
}

/**
 * A node of the tree, as read at one moment: after an insert or remove, read it again.
 */
export interface PrefixNode {
  /** This node's prefix. */
  readonly key: Bitstring;
  readonly isLeaf: boolean;
  /** Number of elements under this node. */
  readonly size: number;
  /** numSamples values in Z_p: ∏ (points[i] − x) over the elements x under this node. */
  readonly svalues: readonly bigint[];
  /** The 2^bitQuantum children, child i keyed by this key followed by i's bits (bitstring.ts `childIndex`); [] for a leaf. */
  children(): Promise<PrefixNode[]>;
  /** All elements under this node (for a leaf: its own), in no particular order. */
  elements(): Promise<bigint[]>;
}

export interface PrefixTree {
  readonly settings: ReconSettings;
  /** The sample points (zp.ts `zpPoints(settings.numSamples)`). */
  readonly points: readonly bigint[];
  root(): Promise<PrefixNode>;
  /** The deepest existing node whose key is a prefix of `key` (whole bitQuantum steps only). */
  node(key: Bitstring): Promise<PrefixNode>;
  /**
   * Adds an element. @throws InputError (MS_RECON_ELEMENT) when it is already there, is not
   * below p, or is one of the sample points (SKS refuses those too: its samples would be 0).
   */
  insert(element: bigint): Promise<void>;
  /** Removes an element. @throws InputError (MS_RECON_ELEMENT) when it is not there. */
  remove(element: bigint): Promise<void>;
  has(element: bigint): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------
// Nodes as plain data, and how each change transforms them (pure: new objects, no I/O).

/** A node as a store keeps it. */
export interface NodeData {
  readonly key: Bitstring;
  readonly size: number;
  readonly svalues: readonly bigint[];
  /** A leaf's own elements; null for an internal node. */
  readonly elements: readonly bigint[] | null;
}

/** A fresh leaf: no elements, every sample 1 (SKS `ZZp.svalues`). */
export function emptyNode(key: Bitstring, numSamples: number): NodeData {
  return { key, size: 0, svalues: new Array<bigint>(numSamples).fill(1n), elements: [] };
}

/**
 * The factors (points[i] − z) that adding z multiplies every sample on its path by (SKS
 * `ZZp.add_el_array`, conflux `AddElementArray`).
 * @throws InputError (MS_RECON_ELEMENT) when z is a sample point or not an element.
 */
export function insertFactors(points: readonly bigint[], z: bigint): bigint[] {
  if (!isZp(z)) throw new InputError('MS_RECON_ELEMENT', `${z} is not an element of Z_p`);
  const out = points.map((pt) => zpSub(pt, z));
  if (out.includes(0n)) throw new InputError('MS_RECON_ELEMENT', `${z} is a sample point and cannot be reconciled`);
  return out;
}

/** The factors 1/(points[i] − z) that removing z multiplies by (SKS `ZZp.del_el_array`). */
export function removeFactors(points: readonly bigint[], z: bigint): bigint[] {
  return zpInvAll(insertFactors(points, z));
}

/** svalues[i] · factors[i]. */
export function scaleSamples(svalues: readonly bigint[], factors: readonly bigint[]): bigint[] {
  const out = new Array<bigint>(svalues.length);
  for (let i = 0; i < svalues.length; i++) out[i] = zpMul(svalues[i], factors[i]);
  return out;
}

/** The samples of a set computed from scratch: what incremental updates must always equal. */
export function samplesOf(points: readonly bigint[], elements: Iterable<bigint>): bigint[] {
  let s = new Array<bigint>(points.length).fill(1n);
  for (const z of elements) s = scaleSamples(s, insertFactors(points, z));
  return s;
}

/** The node after z (with `factors` = insertFactors(points, z)) is added under it. */
export function addToNode(node: NodeData, z: bigint, factors: readonly bigint[]): NodeData {
  return {
    key: node.key,
    size: node.size + 1,
    svalues: scaleSamples(node.svalues, factors),
    elements: node.elements === null ? null : [...node.elements, z],
  };
}

/** The node after z (with `factors` = removeFactors(points, z)) is removed from under it. */
export function removeFromNode(node: NodeData, z: bigint, factors: readonly bigint[]): NodeData {
  return {
    key: node.key,
    size: node.size - 1,
    svalues: scaleSamples(node.svalues, factors),
    elements: node.elements === null ? null : node.elements.filter((x) => x !== z),
  };
}

/**
 * A leaf at `depth` split: the node, now internal with unchanged size and samples, and its
 * 2^bitQuantum new leaves with the elements shared out by `childIndex` (SKS `split_at_depth`).
 * A child may itself be over the threshold: `needsSplit` tells, and the caller splits it too.
 */
export function splitNode(
  node: NodeData,
  depth: number,
  settings: ReconSettings,
  points: readonly bigint[],
): { node: NodeData; children: NodeData[] } {
  if (node.elements === null) throw new MsError('MS_RECON_INTERNAL', `split of internal node ${node.key}`);
  const q = settings.bitQuantum;
  const groups: bigint[][] = Array.from({ length: 1 << q }, () => []);
  for (const z of node.elements) groups[childIndex(z, depth, q)].push(z);
  const children = groups.map((els, i) => ({
    key: childKey(node.key, i, q),
    size: els.length,
    svalues: samplesOf(points, els),
    elements: els,
  }));
  return { node: { key: node.key, size: node.size, svalues: node.svalues, elements: null }, children };
}

/** Whether a leaf holds more elements than it may. */
export function needsSplit(node: NodeData, settings: ReconSettings): boolean {
  return node.elements !== null && node.size > splitThreshold(settings);
}

/** Whether an internal node has become small enough to be a leaf again. */
export function needsJoin(node: NodeData, settings: ReconSettings): boolean {
  return node.elements === null && node.size <= joinThreshold(settings);
}

/**
 * An internal node turned back into a leaf holding `elements`, all those left under it
 * (SKS `delete_at_depth`, conflux `join`); its descendants' rows are to be deleted.
 */
export function joinNode(node: NodeData, elements: readonly bigint[]): NodeData {
  if (elements.length !== node.size) {
    throw new MsError('MS_RECON_INTERNAL', `join of ${node.key}: ${elements.length} elements for size ${node.size}`);
  }
  return { key: node.key, size: node.size, svalues: node.svalues, elements: [...elements] };
}

// ---------------------------------------------------------------------------------------
// The tree over any store of node rows.

function isThenable<T>(x: T | Promise<T>): x is Promise<T> {
  return typeof (x as { then?: unknown } | undefined)?.then === 'function';
}

/**
 * Writes the nodes in order, waiting only for asynchronous writes: awaiting a plain value
 * still costs a turn of the microtask queue per level per insert, and far more under the
 * async hooks test runners install. Undefined when all were written synchronously.
 */
function putAll(store: NodeStore, nodes: readonly NodeData[], from = 0): Promise<void> | undefined {
  for (let i = from; i < nodes.length; i++) {
    const w = store.put(nodes[i]);
    if (isThenable(w)) return w.then(() => putAll(store, nodes, i + 1));
  }
  return undefined;
}


/** Where nodes live. Methods MAY be synchronous. `get` of a key never stored MUST give undefined. */
export interface NodeStore {
  get(key: Bitstring): NodeData | undefined | Promise<NodeData | undefined>;
  put(node: NodeData): void | Promise<void>;
  delete(key: Bitstring): void | Promise<void>;
}

/**
 * A `PrefixTree` over a `NodeStore`. It keeps nothing itself, so several instances over one
 * store see the same tree; mutations MUST NOT run concurrently (callers serialise them, e.g.
 * one transaction at a time).
 */
export class NodeStorePrefixTree implements PrefixTree {
  readonly settings: ReconSettings;
  readonly points: readonly bigint[];
  protected readonly store: NodeStore;

  constructor(store: NodeStore, settings: ReconSettings = DEFAULT_RECON_SETTINGS) {
    this.store = store;
    this.settings = settings;
    this.points = Object.freeze(zpPoints(settings.numSamples));
  }

  async root(): Promise<PrefixNode> {
    return this.view(await this.loadRoot());
  }

  async node(key: Bitstring): Promise<PrefixNode> {
    const q = this.settings.bitQuantum;
    let node = await this.loadRoot();
    for (let depth = 0; node.elements === null && (depth + 1) * q <= key.length; depth++) {
      let idx = 0;
      for (let k = 0; k < q; k++) idx = (idx << 1) | key.get(depth * q + k);
      node = await this.child(node, idx);
    }
    return this.view(node);
  }

  async has(element: bigint): Promise<boolean> {
    if (!isZp(element)) return false;
    const found = this.pathTo(element);
    const path = isThenable(found) ? await found : found;
    return path[path.length - 1].elements!.includes(element);
  }

  async insert(element: bigint): Promise<void> {
    const factors = insertFactors(this.points, element);
    const found = this.pathTo(element);
    const path = isThenable(found) ? await found : found;
    if (path[path.length - 1].elements!.includes(element)) {
      throw new InputError('MS_RECON_ELEMENT', `${element} is already in the prefix tree`);
    }
    const writes: NodeData[] = [];
    for (let depth = 0; depth < path.length; depth++) {
      const next = addToNode(path[depth], element, factors);
      if (needsSplit(next, this.settings)) this.splitAll(next, depth, writes);
      else writes.push(next);
    }
    const w = putAll(this.store, writes);
    if (w) await w;
  }

  async remove(element: bigint): Promise<void> {
    const found = isZp(element) ? this.pathTo(element) : [];
    const path = isThenable(found) ? await found : found;
    if (!path.length || !path[path.length - 1].elements!.includes(element)) {
      throw new InputError('MS_RECON_ELEMENT', `${element} is not in the prefix tree`);
    }
    const factors = removeFactors(this.points, element);
    const writes: NodeData[] = [];
    for (const node of path) {
      const next = removeFromNode(node, element, factors);
      if (needsJoin(next, this.settings)) {
        const left = (await this.collect(node)).filter((x) => x !== element);
        await this.deleteBelow(node);
        writes.push(joinNode(next, left));
        break;
      }
      writes.push(next);
    }
    const w = putAll(this.store, writes);
    if (w) await w;
  }

  /**
   * The nodes from the root to the leaf that holds, or would hold, `element`; synchronously
   * when the store answers synchronously.
   */
  protected pathTo(element: bigint): NodeData[] | Promise<NodeData[]> {
    const q = this.settings.bitQuantum;
    const path: NodeData[] = [];
    const walk = (first: NodeData | Promise<NodeData>): NodeData[] | Promise<NodeData[]> => {
      let node = first;
      for (;;) {
        if (isThenable(node)) return node.then(walk);
        path.push(node);
        if (node.elements !== null) return path;
        node = this.childOf(node, childIndex(element, path.length - 1, q));
      }
    };
    return walk(this.rootOf(this.store.get(Bitstring.EMPTY)));
  }

  protected loadRoot(): Promise<NodeData> {
    return Promise.resolve(this.rootOf(this.store.get(Bitstring.EMPTY)));
  }

  protected async child(node: NodeData, index: number): Promise<NodeData> {
    return this.childOf(node, index);
  }

  private rootOf(got: NodeData | undefined | Promise<NodeData | undefined>): NodeData | Promise<NodeData> {
    const fresh = () => emptyNode(Bitstring.EMPTY, this.settings.numSamples);
    return isThenable(got) ? got.then((n) => n ?? fresh()) : (got ?? fresh());
  }

  /** Child `index` of `node`, synchronously when the store answers synchronously. */
  private childOf(node: NodeData, index: number): NodeData | Promise<NodeData> {
    const key = childKey(node.key, index, this.settings.bitQuantum);
    const check = (found: NodeData | undefined): NodeData => {
      if (!found) throw new MsError('MS_RECON_INTERNAL', `prefix tree node ${node.key} has no child ${key}`);
      return found;
    };
    const got = this.store.get(key);
    return isThenable(got) ? got.then(check) : check(got);
  }

  /** Adds to `writes` a leaf that is over the threshold, split, and its children, split as needed. */
  private splitAll(leaf: NodeData, depth: number, writes: NodeData[]): void {
    const { node, children } = splitNode(leaf, depth, this.settings, this.points);
    writes.push(node);
    for (const c of children) {
      if (needsSplit(c, this.settings)) this.splitAll(c, depth + 1, writes);
      else writes.push(c);
    }
  }

  private async collect(node: NodeData): Promise<bigint[]> {
    if (node.elements !== null) return [...node.elements];
    const out: bigint[] = [];
    for (let i = 0; i < 1 << this.settings.bitQuantum; i++) out.push(...(await this.collect(await this.child(node, i))));
    return out;
  }

  private async deleteBelow(node: NodeData): Promise<void> {
    if (node.elements !== null) return;
    for (let i = 0; i < 1 << this.settings.bitQuantum; i++) {
      const c = await this.child(node, i);
      await this.deleteBelow(c);
      await this.store.delete(c.key);
    }
  }

  private view(data: NodeData): PrefixNode {
    return {
      key: data.key,
      isLeaf: data.elements !== null,
      size: data.size,
      svalues: data.svalues,
      children: async () => {
        if (data.elements !== null) return [];
        const out: PrefixNode[] = [];
        for (let i = 0; i < 1 << this.settings.bitQuantum; i++) out.push(this.view(await this.child(data, i)));
        return out;
      },
      elements: () => this.collect(data),
    };
  }
}
