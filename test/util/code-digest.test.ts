/**
 * The code digests that stamp stored results (wot snapshots, the authentication store's
 * precomputed bindings) cover every module the computation runs: follows the runtime
 * imports (type-only imports are erased and change nothing) from each computation's entry
 * modules and checks that every top-level directory or module reached is digested.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { codeDigest, EVALUATION_CODE } from '../../src/util/code-digest.js';

const SRC = new URL('../../src/', import.meta.url).pathname;

/** Runtime imports of a module: static imports and re-exports that are not `import type`, and dynamic imports. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s+'([^']+)'/gms)) {
    if (m[2]) continue;
    // `import { type A, type B } from` brings nothing at run time either.
    const names = m[3].replace(/^\{|\}$/g, '').split(',').map((n) => n.trim()).filter(Boolean);
    if (m[3].startsWith('{') && names.every((n) => n.startsWith('type '))) continue;
    out.push(m[4]);
  }
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]);
  return out.filter((s) => s.startsWith('.'));
}

/** Top-level entries of src/ (a directory, or a module without extension) reached from `entries`. */
function reached(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = entries.map((e) => join(SRC, e));
  const tops = new Set<string>();
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = relative(SRC, file);
    tops.add(rel.includes('/') ? rel.split('/')[0] : rel.replace(/\.ts$/, ''));
    for (const spec of runtimeImports(file)) {
      const target = join(dirname(file), spec).replace(/\.js$/, '.ts');
      assert.ok(existsSync(target), `${rel} imports ${spec}, which does not exist`);
      todo.push(target);
    }
  }
  return tops;
}

describe('code digests', () => {
  test('the evaluation digest covers everything evaluation and the trust engine run', () => {
    const tops = reached(['cert/evaluate.ts', 'cert/time-window.ts', 'wot/index.ts', 'wot/from-cert.ts', 'wot/network.ts', 'verify/verifier.ts', 'keyring/keyring.ts']);
    const missing = [...tops].filter((t) => !(EVALUATION_CODE as readonly string[]).includes(t));
    assert.deepEqual(missing, [], `EVALUATION_CODE misses ${missing.join(', ')}`);
  });

  test('the bindings digest covers everything computing bindings runs', () => {
    const tops = reached(['auth/compute.ts']);
    const digested = [...EVALUATION_CODE, 'auth', 'ssh'];
    const missing = [...tops].filter((t) => !digested.includes(t));
    assert.deepEqual(missing, [], `the bindings digest misses ${missing.join(', ')}`);
  });

  test('a digest changes with the code and names modules as well as directories', () => {
    assert.notDeepEqual(codeDigest(['cert']), codeDigest(['cert', 'errors']));
    assert.deepEqual(codeDigest(['cert', 'errors']), codeDigest(['cert', 'errors']));
    assert.equal(codeDigest(['no-such-module']).length, 32, 'unreadable code gets a random digest, never an error');
    assert.notDeepEqual(codeDigest(['no-such-module']), codeDigest(['no-such-module', 'x']));
  });
});
