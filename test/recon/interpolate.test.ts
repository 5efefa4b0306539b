/**
 * Interpolation and root finding (src/recon/interpolate.ts): seeded random set differences
 * within mbar are recovered exactly, larger ones answer `low-mbar`; and the canned vectors
 * conflux's decode_test.go took from SKS runs give the same answers here.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { factorRoots, interpolate, reconcileSamples, solve, splitsIntoDistinctLinear } from '../../src/recon/interpolate.js';
import { polyEqual, polyFromRoots, polyMul, polyOf } from '../../src/recon/poly.js';
import { samplesOf } from '../../src/recon/ptree.js';
import { P, zpDiv, zpPoints, zpPow } from '../../src/recon/zp.js';
import { SKS_RATIONAL, seededElements } from './seeded.js';

const elements = (seed: number) => seededElements(seed);

const sorted = (xs: Iterable<bigint>) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const big = (xs: string[]) => xs.map(BigInt);

describe('reconciling from samples', () => {
  const next = elements(11);
  const random = elements(12);

  test('up to mbar differences are recovered exactly, for mbar 1..12 and every split of them', () => {
    for (let mbar = 1; mbar <= 12; mbar++) {
      const points = zpPoints(mbar + 1);
      for (let m = 0; m <= mbar; m++) {
        for (let m1 = 0; m1 <= m; m1++) {
          const common = Array.from({ length: 5 }, next);
          const remoteOnly = Array.from({ length: m1 }, next);
          const localOnly = Array.from({ length: m - m1 }, next);
          const remote = { svalues: samplesOf(points, [...common, ...remoteOnly]), size: common.length + m1 };
          const local = { svalues: samplesOf(points, [...localOnly, ...common]), size: common.length + m - m1 };
          const got = reconcileSamples(remote, local, points, random);
          assert.ok(got.ok, `mbar ${mbar}, ${m1} remote-only, ${m - m1} local-only`);
          assert.deepEqual(sorted(got.remoteOnly), sorted(remoteOnly));
          assert.deepEqual(sorted(got.localOnly), sorted(localOnly));
        }
      }
    }
  });

  test('more than mbar differences answer low-mbar', () => {
    for (let mbar = 1; mbar <= 8; mbar++) {
      const points = zpPoints(mbar + 1);
      for (let m = mbar + 1; m <= mbar + 12; m++) {
        const m1 = m % 3 === 0 ? m : Math.floor(m / 2);
        const a = Array.from({ length: m1 }, next);
        const b = Array.from({ length: m - m1 }, next);
        const got = reconcileSamples({ svalues: samplesOf(points, a), size: m1 }, { svalues: samplesOf(points, b), size: m - m1 }, points, random);
        assert.deepEqual(got, { ok: false, reason: 'low-mbar' }, `mbar ${mbar}, m ${m}`);
      }
    }
  });

  test('malformed samples answer low-mbar rather than throwing', () => {
    const points = zpPoints(6);
    const one = { svalues: samplesOf(points, []), size: 0 };
    assert.equal(reconcileSamples({ svalues: [1n], size: 0 }, one, points).ok, false);
    assert.equal(reconcileSamples(one, { svalues: [0n, 1n, 1n, 1n, 1n, 1n], size: 0 }, points).ok, false);
    assert.equal(reconcileSamples(one, one, points).ok, true);
    assert.equal(solve([], [], 0).ok, false);
    assert.equal(reconcileSamples({ svalues: one.svalues, size: 40 }, one, points).ok, false);
  });

  test('roots of random products of distinct linears, with a seeded splitter', () => {
    for (let n = 0; n <= 12; n++) {
      const roots = Array.from({ length: n }, next);
      const f = polyMul(polyFromRoots(roots), [next()]);
      assert.ok(splitsIntoDistinctLinear(f) || n === 0);
      assert.deepEqual(sorted(factorRoots(f, random) ?? []), sorted(roots));
    }
    const r = next();
    assert.equal(splitsIntoDistinctLinear(polyFromRoots([r, r, next()])), false); // repeated root
    assert.equal(splitsIntoDistinctLinear(polyOf([1n, 0n, 1n])), P % 4n === 1n); // z² + 1 splits iff -1 is a square
    // z² − c for the least non-square c is irreducible: its roots cannot be found.
    let c = 2n;
    while (zpPow(c, (P - 1n) / 2n) === 1n) c++;
    const irreducible = polyOf([-c, 0n, 1n]);
    assert.equal(splitsIntoDistinctLinear(irreducible), false);
    assert.equal(factorRoots(irreducible, random), undefined);
  });
});

describe('canned vectors from SKS runs (conflux decode_test.go)', () => {
  test('TestCannedInterpolation: 13 values, d = -11', () => {
    const values = big([
      '50209572917763804813893169477404135246',
      '523915264287429384599917983489241637041',
      '193879208340335596473327301694891073112',
      '336257832174512052845041381684545224326',
      '525220581565510310465258018589146771167',
      '369646301408454767673033771110855434260',
      '371821946850459872311187739000814476019',
      '144426966457292640051271632674756114101',
      '379207879747256731229136438792149285186',
      '46108152160169587744128314614996604924',
      '227801899428306415871207999262631174702',
      '207497927707680176901864453717256663645',
      '190227327194805171829784109272423912872',
    ]);
    const rf = interpolate(values, zpPoints(13), -11);
    assert.ok(rf);
    assert.ok(polyEqual(rf.num, SKS_RATIONAL.num));
    assert.ok(polyEqual(rf.denom, SKS_RATIONAL.denom));
  });

  test('TestCannedReconcile: 21 samples, 10 remote-only and 5 local-only elements', () => {
    const set1 = big([
      '8952777669297728851091848378379377617',
      '162085839528403560100929159811161460293',
      '181484969924633124558171484324504401075',
      '229305846979453177871691812413112208676',
      '284001389401364703525738874626145923778',
      '333026889954813771673937036618957938545',
      '401537002901186069501925598757914356337',
      '408597178507212301417184698839771487762',
      '419504520512224794235831228788173561599',
      '454233583376105592897174699470827876606',
    ]);
    const set2 = big([
      '110633522524732890588089295220994803977',
      '194223389264051186134544082841809104115',
      '332150253195118153886619367406744054566',
      '431844203966462129313295191768688911950',
      '505931393060085050712145173574130038354',
    ]);
    const values = big([
      '325567491442841181381134847399735305017',
      '395037391445571452972721527936312200522',
      '383458038386494547334014086327713094385',
      '217174866600085692973450729194577792210',
      '385011357579896657977528957507240613253',
      '402781597512949507740967136267068344630',
      '232703526201630690874279192086579665024',
      '517714262168165665799778316804817689980',
      '32661406820901877880191293945563287049',
      '367894599536965704928081351211416869922',
      '277789799296462035245112840153664041656',
      '55517351568679792361000876949275186668',
      '262234380059790006121506334185487551936',
      '269358796384139303257285300138875449325',
      '230494386168101481930613981157929389116',
      '497730714764611287106884245786790787566',
      '51691307971910305814631217339926265833',
      '290446399753991600191456012845409641740',
      '427530032313331291010476618229794543878',
      '120344848642406229503266522177541779886',
      '399989145164239204145711147975735514135',
    ]);
    const points = zpPoints(21);
    // The values are the ratios of the two sets' samples at the SKS points: check that too.
    const s1 = samplesOf(points, set1);
    const s2 = samplesOf(points, set2);
    assert.deepEqual(
      values,
      s1.map((x, i) => zpDiv(x, s2[i])),
    );
    const got = solve(values, points, set1.length - set2.length);
    assert.ok(got.ok);
    assert.deepEqual(sorted(got.remoteOnly), sorted(set1));
    assert.deepEqual(sorted(got.localOnly), sorted(set2));
  });

  test('TestLowMBar: 8 samples, d = 3, answers low-mbar', () => {
    const values = big([
      '260405721246918987273155339614020972656',
      '243393001638573476362665007855413044937',
      '505905314437392989818278468923779137359',
      '105358332430258313066486664282953088018',
      '2560440886574256298562818527295701964',
      '118746265689993312951910051444187575775',
      '529698088600031242289045200206930982765',
      '441488592726201746187835041000728091281',
    ]);
    assert.deepEqual(solve(values, zpPoints(8), 3), { ok: false, reason: 'low-mbar' });
  });

  test('TestFactorCheck: an SKS-logged quadratic that splits', () => {
    const x = big(['23910866165498202015403350789738609658', '117479252320778380699969369242473163812', '1']);
    assert.equal(splitsIntoDistinctLinear(x), true);
    const roots = factorRoots(x);
    assert.equal(roots?.length, 2);
    assert.ok(polyEqual(polyFromRoots(roots!), x));
  });
});
