/**
 * The bin/ shims: one per command, listed in package.json. Each runs the one-file bundle
 * dist/bundle/<name>.cjs (scripts/build.ts) with its V8 code cache, or dist/cli/<name>.js
 * when that is newer or alone, and fails cleanly (exit 70) when neither is built.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { commands } from '../../scripts/build.js';
import { ensureBuilt } from '../auth/harness.js';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const shims = readdirSync(join(root, 'bin')).filter((f) => f.endsWith('.js'));

/** A throwaway package holding the shims (bin/, as installed) and whatever dist/ a test writes. */
function tempPackage(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ms-shim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
  mkdirSync(join(dir, 'dist', 'bundle'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  for (const f of [...shims, 'package.json']) copyFileSync(join(root, 'bin', f), join(dir, 'bin', f));
  return dir;
}

test('package.json "bin" lists exactly the shims in bin/', () => {
  const expected = Object.fromEntries(shims.map((f) => [f.slice(0, -3), `bin/${f}`]));
  assert.deepEqual(Object.fromEntries(Object.entries(pkg.bin).sort()), Object.fromEntries(Object.entries(expected).sort()));
  for (const name of ['monkeysphere', 'monkeysphere-host', 'monkeysphere-authentication', 'monkeysphere-authentication-keys-for-user', 'openpgp2ssh', 'pem2openpgp', 'keytrans', 'agent-transfer']) {
    assert.ok(name in pkg.bin, `missing command ${name}`);
  }
});

test('every shim is an executable, dependency-free CommonJS script for its own bundle and dist module', () => {
  assert.deepEqual(JSON.parse(readFileSync(join(root, 'bin', 'package.json'), 'utf8')), { type: 'commonjs' });
  for (const f of shims) {
    const name = f.slice(0, -3);
    const text = readFileSync(join(root, 'bin', f), 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/env node\n'), `${f}: shebang`);
    assert.ok(statSync(join(root, 'bin', f)).mode & 0o111, `${f}: not executable`);
    assert.ok(text.includes(`/../dist/bundle/${name}.cjs\``), `${f}: bundle`);
    assert.ok(text.includes('/../dist/bundle/launch.cjs`'), `${f}: launcher`);
    assert.ok(text.includes(`/../dist/cli/${name}.js\``), `${f}: fallback`);
    const requires = [...text.matchAll(/require\('([^']+)'\)/g)].map((m) => m[1]);
    assert.deepEqual(requires, ['node:fs', 'node:url'], `${f}: requires`);
    assert.doesNotMatch(text, /^import /m, `${f}: an ES module`);
  }
});

test('without a bundle, a shim runs main(argv) of its dist module, also through a symlink, and exits with its code', (t) => {
  const dir = tempPackage(t);
  writeFileSync(
    join(dir, 'dist', 'cli', 'openpgp2ssh.js'),
    'export async function main(argv) { process.stdout.write(JSON.stringify(argv)); return 3; }\n',
  );
  const direct = spawnSync(process.execPath, [join(dir, 'bin', 'openpgp2ssh.js'), 'a b', '--x'], { encoding: 'utf8' });
  assert.equal(direct.status, 3, direct.stderr);
  assert.equal(direct.stdout, '["a b","--x"]');

  mkdirSync(join(dir, 'path'));
  symlinkSync(join(dir, 'bin', 'openpgp2ssh.js'), join(dir, 'path', 'openpgp2ssh'));
  const viaLink = spawnSync(process.execPath, [join(dir, 'path', 'openpgp2ssh'), 'k'], { encoding: 'utf8' });
  assert.equal(viaLink.status, 3, viaLink.stderr);
  assert.equal(viaLink.stdout, '["k"]');
});

test('a shim prefers the bundle, through a symlink too; dist/cli/ only when it is newer (a tsc-only rebuild)', (t) => {
  ensureBuilt();
  const dir = tempPackage(t);
  copyFileSync(join(root, 'dist', 'bundle', 'launch.cjs'), join(dir, 'dist', 'bundle', 'launch.cjs'));
  const cli = join(dir, 'dist', 'cli', 'openpgp2ssh.js');
  const bundle = join(dir, 'dist', 'bundle', 'openpgp2ssh.cjs');
  writeFileSync(cli, 'export async function main(argv) { process.stdout.write("dist " + JSON.stringify(argv)); return 3; }\n');
  writeFileSync(bundle, 'exports.main = async (argv) => { process.stdout.write("bundle " + JSON.stringify(argv) + " " + (__filename.endsWith("/dist/bundle/openpgp2ssh.cjs") ? "ok" : __filename)); return 4; };\n');
  utimesSync(cli, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
  const r = spawnSync(process.execPath, [join(dir, 'bin', 'openpgp2ssh.js'), 'a b', '--x'], { encoding: 'utf8' });
  assert.equal(r.status, 4, r.stderr);
  assert.equal(r.stdout, 'bundle ["a b","--x"] ok');

  mkdirSync(join(dir, 'path'));
  symlinkSync(join(dir, 'bin', 'openpgp2ssh.js'), join(dir, 'path', 'openpgp2ssh'));
  const viaLink = spawnSync(process.execPath, [join(dir, 'path', 'openpgp2ssh'), 'k'], { encoding: 'utf8' });
  assert.equal(viaLink.status, 4, viaLink.stderr);

  utimesSync(bundle, new Date(Date.now() - 20_000), new Date(Date.now() - 20_000));
  const older = spawnSync(process.execPath, [join(dir, 'bin', 'openpgp2ssh.js'), 'k'], { encoding: 'utf8' });
  assert.equal(older.status, 3, older.stderr);
  assert.equal(older.stdout, 'dist ["k"]');
});

test('the build bundles every command bin/ names that has a source, each with a code cache a plain node accepts', () => {
  ensureBuilt();
  const names = commands();
  for (const name of ['monkeysphere-authentication-keys-for-user', 'monkeysphere-authentication', 'monkeysphere-host', 'openpgp2ssh']) assert.ok(names.includes(name), name);
  const launcher = join(root, 'dist', 'bundle', 'launch.cjs');
  const check = 'const l = require(process.argv[1]); for (const f of process.argv.slice(2)) if (!l.load(f).cached) { console.log(f); process.exitCode = 1; }';
  const bundles = names.map((n) => join(root, 'dist', 'bundle', `${n}.cjs`));
  for (const b of bundles) assert.ok(existsSync(b), b);
  const r = spawnSync(process.execPath, ['-e', check, launcher, ...bundles], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, `code cache missing or rejected: ${r.stdout}${r.stderr}`);
});

test('a bundle with a damaged, foreign or missing code cache still runs (V8 rejects it, the bundle is compiled)', (t) => {
  ensureBuilt();
  const dir = tempPackage(t);
  const name = 'monkeysphere-authentication-keys-for-user';
  const built = readdirSync(join(root, 'dist', 'bundle'));
  for (const f of built.filter((f) => f === 'launch.cjs' || f.startsWith(`${name}.`))) copyFileSync(join(root, 'dist', 'bundle', f), join(dir, 'dist', 'bundle', f));
  const cache = readdirSync(join(dir, 'dist', 'bundle')).find((f) => f.endsWith('.cache'));
  assert.ok(cache, 'the build made a code cache');
  const run = () => spawnSync(process.execPath, [join(dir, 'bin', `${name}.js`), '--help'], { encoding: 'utf8' });
  assert.equal(run().status, 0);
  for (const damage of [Buffer.from('not a code cache'), readFileSync(join(root, 'dist', 'bundle', built.find((f) => f.startsWith('openpgp2ssh.') && f.endsWith('.cache'))!))]) {
    writeFileSync(join(dir, 'dist', 'bundle', cache), damage);
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: monkeysphere-authentication-keys-for-user USER/);
  }
  rmSync(join(dir, 'dist', 'bundle', cache));
  assert.equal(run().status, 0);
});

test('a shim with neither bundle nor dist module says so and exits 70', (t) => {
  const dir = tempPackage(t);
  for (const f of shims) {
    const name = f.slice(0, -3);
    const r = spawnSync(process.execPath, [join(dir, 'bin', f), '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 70, f);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `${name}: error: not built or not implemented yet\n`);
  }
});
