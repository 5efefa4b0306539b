/**
 * Recovering a set difference from samples (Minsky, Trachtenberg, Zippel 2003 §3; SKS
 * decode.ml, conflux decode.go): the ratio of two sets' characteristic polynomials, sampled
 * at the shared points, is interpolated as a reduced rational function; the roots of its
 * numerator are the elements only the remote side has, those of its denominator the elements
 * only the local side has. Too many differences is an answer (`low-mbar`), not an error:
 * the caller then recurses into the prefix tree's children.
 */
import {
  type Poly,
  polyDegree,
  polyDiv,
  polyDivMod,
  polyEval,
  polyGcd,
  polyIsZero,
  polyMod,
  polyPowMod,
  polySub,
} from './poly.js';
import { cryptoZpRandom, P, type ZpRandom, zpDiv, zpInv, zpMul, zpNeg, zpSub } from './zp.js';

/** A reduced rational function num/denom, both monic. */
export interface RationalFunction {
  num: Poly;
  denom: Poly;
}

/** What the samples told: the two differences, or that they are too many to tell. */
export type Solution =
  | { ok: true; remoteOnly: bigint[]; localOnly: bigint[] }
  | { ok: false; reason: 'low-mbar' };

const LOW_MBAR: Solution = Object.freeze({ ok: false, reason: 'low-mbar' });

/**
 * The monic polynomials A (degree ma) and B (degree mb), ma − mb = `degDiff`, ma + mb = the
 * number of values used, with A(k_j) = f_j·B(k_j) at every point, reduced by their gcd
 * (SKS `Decode.interpolate`, conflux `Interpolate`). Uses all the values given, less one when
 * their count and `degDiff` differ in parity. Returns undefined when no such pair exists.
 */
export function interpolate(values: readonly bigint[], points: readonly bigint[], degDiff: number): RationalFunction | undefined {
  if (Math.abs(degDiff) > values.length) return undefined;
  const m = (values.length + degDiff) % 2 === 0 ? values.length : values.length - 1;
  const ma = (m + degDiff) / 2;
  // With mb = m − ma, row j reads Σ_{i<ma} a_i k^i − f Σ_{i<mb} b_i k^i = f k^mb − k^ma:
  // the unknowns a_0.., b_0.., then the right side.
  const rows: bigint[][] = [];
  for (let j = 0; j < m; j++) {
    const k = points[j];
    const f = values[j];
    const row = new Array<bigint>(m + 1);
    let acc = 1n;
    for (let i = 0; i < ma; i++) {
      row[i] = acc;
      acc = zpMul(acc, k);
    }
    const kma = acc;
    acc = zpNeg(f);
    for (let i = ma; i < m; i++) {
      row[i] = acc;
      acc = zpMul(acc, k);
    }
    row[m] = zpSub(zpNeg(acc), kma);
    rows.push(row);
  }
  const x = solveLinear(rows, m);
  if (!x) return undefined;
  const a = [...x.slice(0, ma), 1n];
  const b = [...x.slice(ma, m), 1n];
  const g = polyGcd(a, b);
  return { num: polyDiv(a, g), denom: polyDiv(b, g) };
}

/**
 * One solution of the n×n system given as rows of n coefficients and the right side, by
 * Gauss–Jordan elimination; free unknowns are 0. Undefined when the system is inconsistent.
 * A rank-deficient system is the normal case with fewer differences than samples: any of its
 * solutions reduces to the same rational function.
 */
function solveLinear(rows: bigint[][], n: number): bigint[] | undefined {
  const pivotCols: number[] = [];
  let r = 0;
  for (let c = 0; c < n && r < rows.length; c++) {
    let p = r;
    while (p < rows.length && rows[p][c] === 0n) p++;
    if (p === rows.length) continue;
    [rows[r], rows[p]] = [rows[p], rows[r]];
    const pivot = rows[r];
    const inv = zpInv(pivot[c]);
    for (let i = c; i <= n; i++) pivot[i] = zpMul(pivot[i], inv);
    for (let j = 0; j < rows.length; j++) {
      const row = rows[j];
      const factor = row[c];
      if (j === r || factor === 0n) continue;
      for (let i = c; i <= n; i++) if (pivot[i] !== 0n) row[i] = zpSub(row[i], zpMul(factor, pivot[i]));
    }
    pivotCols.push(c);
    r++;
  }
  for (let j = r; j < rows.length; j++) if (rows[j][n] !== 0n) return undefined;
  const x = new Array<bigint>(n).fill(0n);
  pivotCols.forEach((c, j) => {
    x[c] = rows[j][n];
  });
  return x;
}

/**
 * Whether f is a product of distinct linear factors: f divides z^p − z (SKS
 * `Decode.factor_check`). A numerator or denominator that is not cannot be a set difference.
 */
export function splitsIntoDistinctLinear(f: Poly): boolean {
  if (polyDegree(f) <= 1) return !polyIsZero(f);
  const z: Poly = [0n, 1n];
  return polyIsZero(polySub(polyPowMod(z, P, f), polyMod(z, f)));
}

const HALF_P = (P - 1n) / 2n;

/**
 * The roots of f, which must split into distinct linear factors (check with
 * `splitsIntoDistinctLinear`), by the randomized equal-degree splitting SKS uses
 * (`Decode.rand_split`): gcd((z + a)^((p−1)/2) − 1, f) for random a splits off about half
 * of the roots. Returns undefined when f turns out not to split (a factor of degree > 1 that
 * no split makes progress on within the retry budget).
 */
export function factorRoots(f: Poly, random: ZpRandom = cryptoZpRandom): bigint[] | undefined {
  const roots: bigint[] = [];
  const pending: Poly[] = [f];
  let budget = 64 * Math.max(1, polyDegree(f));
  while (pending.length > 0) {
    const g = pending.pop()!;
    const d = polyDegree(g);
    if (d < 1) continue;
    if (d === 1) {
      roots.push(zpNeg(zpDiv(g[0], g[1])));
      continue;
    }
    if (budget-- <= 0) return undefined;
    const h = polyPowMod([random(), 1n], HALF_P, g);
    const s = polyGcd(g, polySub(h, [1n]));
    const ds = polyDegree(s);
    if (ds <= 0 || ds === d) {
      pending.push(g);
      continue;
    }
    pending.push(s, polyDivMod(g, s).q);
  }
  return roots;
}

/**
 * The set difference from the ratios `values[i]` = remote(points[i]) / local(points[i]) of the
 * two sets' characteristic polynomials and `degDiff` = |remote| − |local| (SKS
 * `Decode.reconcile`, conflux `Reconcile`): all but the last sample interpolate, the last one
 * checks, and both sides must split into linear factors; otherwise `low-mbar`.
 */
export function solve(
  values: readonly bigint[],
  points: readonly bigint[],
  degDiff: number,
  random: ZpRandom = cryptoZpRandom,
): Solution {
  const n = values.length;
  if (n < 1 || points.length !== n) return LOW_MBAR;
  const rf = interpolate(values.slice(0, n - 1), points.slice(0, n - 1), degDiff);
  if (!rf) return LOW_MBAR;
  const last = points[n - 1];
  const denomAt = polyEval(rf.denom, last);
  if (denomAt === 0n || zpMul(polyEval(rf.num, last), zpInv(denomAt)) !== values[n - 1]) return LOW_MBAR;
  if (!splitsIntoDistinctLinear(rf.num) || !splitsIntoDistinctLinear(rf.denom)) return LOW_MBAR;
  const remoteOnly = factorRoots(rf.num, random);
  const localOnly = factorRoots(rf.denom, random);
  if (!remoteOnly || !localOnly) return LOW_MBAR;
  return { ok: true, remoteOnly, localOnly };
}

/** A node's summary as recon exchanges it: its sample values and its element count. */
export interface Samples {
  readonly svalues: readonly bigint[];
  readonly size: number;
}

/**
 * `solve` for a remote node's samples against the local node with the same prefix (conflux
 * `Peer.solve`): remoteOnly are the elements to fetch, localOnly those the remote lacks.
 */
export function reconcileSamples(
  remote: Samples,
  local: Samples,
  points: readonly bigint[],
  random: ZpRandom = cryptoZpRandom,
): Solution {
  const n = points.length;
  if (remote.svalues.length !== n || local.svalues.length !== n) return LOW_MBAR;
  const values: bigint[] = [];
  for (let i = 0; i < n; i++) {
    if (local.svalues[i] === 0n) return LOW_MBAR;
    values.push(zpDiv(remote.svalues[i], local.svalues[i]));
  }
  return solve(values, points, remote.size - local.size, random);
}
