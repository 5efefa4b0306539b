/**
 * Polynomials over Z_p (SKS poly.ml, conflux poly.go), as arrays of canonical coefficients,
 * lowest degree first, with no trailing zeros: the zero polynomial is `[]` (degree -1).
 * The degrees recon meets are at most mbar, so the schoolbook algorithms are the right ones.
 */
import { P, zpInv, zpMul, zpNeg, zpReduce, zpSub } from './zp.js';

/** Coefficients c[0] + c[1]·z + …; canonical and trimmed. */
export type Poly = readonly bigint[];

export const ZERO: Poly = Object.freeze([]);
export const ONE: Poly = Object.freeze([1n]);

/** A polynomial from any coefficients (reduced mod p, trailing zeros dropped). */
export function polyOf(coeffs: readonly bigint[]): Poly {
  return trim(coeffs.map(zpReduce));
}

function trim(c: bigint[]): bigint[] {
  let n = c.length;
  while (n > 0 && c[n - 1] === 0n) n--;
  c.length = n;
  return c;
}

/** Degree; -1 for the zero polynomial. */
export function polyDegree(f: Poly): number {
  return f.length - 1;
}

export function polyIsZero(f: Poly): boolean {
  return f.length === 0;
}

export function polyEqual(f: Poly, g: Poly): boolean {
  return f.length === g.length && f.every((c, i) => c === g[i]);
}

/** f(x), by Horner's rule. */
export function polyEval(f: Poly, x: bigint): bigint {
  let acc = 0n;
  for (let i = f.length - 1; i >= 0; i--) acc = (acc * x + f[i]) % P;
  return acc;
}

export function polyAdd(f: Poly, g: Poly): Poly {
  const n = Math.max(f.length, g.length);
  const out = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    const s = (f[i] ?? 0n) + (g[i] ?? 0n);
    out[i] = s >= P ? s - P : s;
  }
  return trim(out);
}

export function polySub(f: Poly, g: Poly): Poly {
  const n = Math.max(f.length, g.length);
  const out = new Array<bigint>(n);
  for (let i = 0; i < n; i++) out[i] = zpSub(f[i] ?? 0n, g[i] ?? 0n);
  return trim(out);
}

export function polyScale(f: Poly, c: bigint): Poly {
  return trim(f.map((x) => zpMul(x, c)));
}

export function polyMul(f: Poly, g: Poly): Poly {
  if (f.length === 0 || g.length === 0) return ZERO;
  const out = new Array<bigint>(f.length + g.length - 1).fill(0n);
  for (let i = 0; i < f.length; i++) {
    const a = f[i];
    if (a === 0n) continue;
    for (let j = 0; j < g.length; j++) out[i + j] += a * g[j];
  }
  for (let k = 0; k < out.length; k++) out[k] %= P;
  return trim(out);
}

/**
 * Quotient and remainder: f = q·g + r with deg r < deg g.
 * @throws RangeError when g is zero.
 */
export function polyDivMod(f: Poly, g: Poly): { q: Poly; r: Poly } {
  const dg = g.length - 1;
  if (dg < 0) throw new RangeError('polynomial division by zero');
  if (f.length <= dg) return { q: ZERO, r: f };
  const r = f.slice();
  const q = new Array<bigint>(f.length - dg).fill(0n);
  const lead = zpInv(g[dg]);
  for (let k = r.length - 1; k >= dg; k--) {
    const c = zpMul(r[k], lead);
    if (c === 0n) continue;
    q[k - dg] = c;
    for (let j = 0; j <= dg; j++) r[k - dg + j] = zpSub(r[k - dg + j], zpMul(c, g[j]));
  }
  r.length = dg;
  return { q: trim(q), r: trim(r) };
}

export function polyDiv(f: Poly, g: Poly): Poly {
  return polyDivMod(f, g).q;
}

export function polyMod(f: Poly, g: Poly): Poly {
  return polyDivMod(f, g).r;
}

/** f scaled so its leading coefficient is 1 (zero stays zero). */
export function polyMonic(f: Poly): Poly {
  if (f.length === 0 || f[f.length - 1] === 1n) return f;
  return polyScale(f, zpInv(f[f.length - 1]));
}

/** The monic greatest common divisor (SKS `Poly.gcd` forces it monic too); gcd(0, 0) = 0. */
export function polyGcd(f: Poly, g: Poly): Poly {
  let a = f;
  let b = g;
  while (b.length > 0) {
    const r = polyMod(a, b);
    a = b;
    b = r;
  }
  return polyMonic(a);
}

/** f^e mod m, by repeated squaring (e ≥ 0, m not zero). */
export function polyPowMod(f: Poly, e: bigint, m: Poly): Poly {
  let result: Poly = polyMod(ONE, m);
  let base = polyMod(f, m);
  let n = e;
  while (n > 0n) {
    if (n & 1n) result = polyMod(polyMul(result, base), m);
    n >>= 1n;
    if (n > 0n) base = polyMod(polyMul(base, base), m);
  }
  return result;
}

/** ∏ (z − r) over `roots`: the characteristic polynomial of a set. */
export function polyFromRoots(roots: Iterable<bigint>): Poly {
  let f: Poly = ONE;
  for (const r of roots) f = polyMul(f, [zpNeg(zpReduce(r)), 1n]);
  return f;
}

/** For messages and test failures: "z^2 + 3 z + 5" style, highest degree first. */
export function polyToString(f: Poly): string {
  if (f.length === 0) return '0';
  const terms: string[] = [];
  for (let i = f.length - 1; i >= 0; i--) {
    if (f[i] === 0n) continue;
    terms.push(i === 0 ? `${f[i]}` : `${f[i] === 1n ? '' : `${f[i]} `}z${i === 1 ? '' : `^${i}`}`);
  }
  return terms.join(' + ');
}
