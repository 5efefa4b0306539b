/**
 * The bin/ shims: one per command, listed in package.json, each running
 * dist/cli/<name>.js's main() and failing cleanly (exit 70) when that is not built.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const shims = readdirSync(join(root, 'bin')).filter((f) => f.endsWith('.js'));

test('package.json "bin" lists exactly the shims in bin/', () => {
  const expected = Object.fromEntries(shims.map((f) => [f.slice(0, -3), `bin/${f}`]));
  assert.deepEqual(Object.fromEntries(Object.entries(pkg.bin).sort()), Object.fromEntries(Object.entries(expected).sort()));
  for (const name of ['monkeysphere', 'monkeysphere-host', 'monkeysphere-authentication', 'monkeysphere-authentication-keys-for-user', 'openpgp2ssh', 'pem2openpgp', 'keytrans', 'agent-transfer']) {
    assert.ok(name in pkg.bin, `missing command ${name}`);
  }
});

test('every shim is an executable, dependency-free ESM script for its own dist module', () => {
  for (const f of shims) {
    const name = f.slice(0, -3);
    const text = readFileSync(join(root, 'bin', f), 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/env node\n'), `${f}: shebang`);
    assert.ok(statSync(join(root, 'bin', f)).mode & 0o111, `${f}: not executable`);
    assert.ok(text.includes(`'../dist/cli/${name}.js'`), `${f}: target`);
    const imports = [...text.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    assert.deepEqual(imports, ['node:fs'], `${f}: imports`);
  }
});

test('a shim runs main(argv) of its dist module, also through a symlink, and exits with its code', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-shim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  copyFileSync(join(root, 'bin', 'openpgp2ssh.js'), join(dir, 'bin', 'openpgp2ssh.js'));
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

test('a shim whose dist module is missing says so and exits 70', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-shim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  for (const f of shims) {
    const name = f.slice(0, -3);
    copyFileSync(join(root, 'bin', f), join(dir, 'bin', f));
    const r = spawnSync(process.execPath, [join(dir, 'bin', f), '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 70, f);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `${name}: error: not built or not implemented yet\n`);
  }
});
