/**
 * Polynomials over Z_p (src/recon/poly.ts): division, gcd, powers and evaluation on seeded
 * random polynomials, and an evaluation known from an SKS run (conflux decode_test.go).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ONE,
  type Poly,
  polyAdd,
  polyDegree,
  polyDiv,
  polyDivMod,
  polyEqual,
  polyEval,
  polyFromRoots,
  polyGcd,
  polyMod,
  polyMul,
  polyOf,
  polyPowMod,
  polySub,
  polyToString,
  ZERO,
} from '../../src/recon/poly.js';
import { P, zpDiv, zpMul, zpReduce } from '../../src/recon/zp.js';
import { SKS_RATIONAL, seededElements } from './seeded.js';

const elements = (seed: number) => seededElements(seed);

const next = elements(7);
function randomPoly(degree: number): Poly {
  const c = Array.from({ length: degree + 1 }, next);
  if (c[degree] === 0n) c[degree] = 1n;
  return polyOf(c);
}

describe('polynomials over Z_p', () => {
  test('trimming and degree', () => {
    assert.deepEqual(polyOf([1n, 0n, 0n]), [1n]);
    assert.deepEqual(polyOf([0n, 0n]), ZERO);
    assert.equal(polyDegree(ZERO), -1);
    assert.equal(polyDegree(ONE), 0);
    assert.deepEqual(polyOf([-1n, P + 2n]), [P - 1n, 2n]);
    assert.deepEqual(polySub([1n, 1n], [1n, 1n]), ZERO);
  });

  test('division with remainder: f = q·g + r, deg r < deg g', () => {
    for (let i = 0; i < 50; i++) {
      const f = randomPoly(i % 9);
      const g = randomPoly(i % 5);
      const { q, r } = polyDivMod(f, g);
      assert.ok(polyDegree(r) < polyDegree(g));
      assert.ok(polyEqual(polyAdd(polyMul(q, g), r), f));
    }
    assert.throws(() => polyDivMod(ONE, ZERO), RangeError);
  });

  test('multiplication evaluates pointwise; the product of linears has those roots', () => {
    for (let i = 0; i < 20; i++) {
      const f = randomPoly(3);
      const g = randomPoly(4);
      const x = next();
      assert.equal(polyEval(polyMul(f, g), x), zpMul(polyEval(f, x), polyEval(g, x)));
    }
    const roots = [next(), next(), next()];
    const f = polyFromRoots(roots);
    assert.equal(polyDegree(f), 3);
    for (const r of roots) assert.equal(polyEval(f, r), 0n);
    assert.notEqual(polyEval(f, 12345n), 0n);
  });

  test('gcd is monic and is exactly the common factor', () => {
    for (let i = 0; i < 20; i++) {
      const common = [next(), next()];
      const f = polyFromRoots([...common, next()]);
      const g = polyMul(polyFromRoots([...common, next(), next()]), [5n]);
      assert.ok(polyEqual(polyGcd(f, g), polyFromRoots(common)));
    }
    assert.deepEqual(polyGcd(polyFromRoots([1n]), polyFromRoots([2n])), ONE);
    assert.deepEqual(polyGcd(ZERO, ZERO), ZERO);
    const f = polyMul(polyFromRoots([3n, 4n]), [7n]);
    assert.ok(polyEqual(polyGcd(f, ZERO), polyFromRoots([3n, 4n])));
    assert.ok(polyEqual(polyDiv(f, [7n]), polyFromRoots([3n, 4n])));
  });

  test('powMod agrees with repeated multiplication', () => {
    const m = randomPoly(4);
    const f = randomPoly(3);
    let acc: Poly = ONE;
    for (let e = 0; e < 12; e++) {
      assert.ok(polyEqual(polyPowMod(f, BigInt(e), m), polyMod(acc, m)), `exponent ${e}`);
      acc = polyMod(polyMul(acc, f), m);
    }
  });

  test('to string', () => {
    assert.equal(polyToString([5n, 3n, 1n]), 'z^2 + 3 z + 5');
    assert.equal(polyToString(ZERO), '0');
  });

  test('known answer: evaluation at -7 from an SKS run (conflux decode_test.go TestPolyNomNomNom)', () => {
    const num = polyOf(SKS_RATIONAL.num);
    const denom = polyOf(SKS_RATIONAL.denom);
    const point = zpReduce(-7n);
    const numAt = polyEval(num, point);
    const denomAt = polyEval(denom, point);
    assert.equal(numAt, 201510631159794911579036209221877731344n);
    assert.equal(denomAt, 77151748131754717019960190430023395826n);
    assert.equal(zpDiv(numAt, denomAt), 372597725470208235965358485960825765733n);
  });
});
