/**
 * The direction of imports between the parts of src/ (docs/design/README.md): each top-level
 * directory or module may import only the parts the table below lets it, so the layering the
 * design pages describe is the layering the code has. Every import counts, type-only ones and
 * dynamic ones too. Also: the pure trust engine does no I/O, commands do not import each
 * other, and nothing in src/ reaches into test/ or bench/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;
const SRC = join(ROOT, 'src');

/** What each part may import (besides itself). `*` marks a part not written yet. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  errors: [],
  clock: ['errors'],
  util: ['errors', 'clock'],
  openpgp: ['errors', 'clock', 'util'],
  cert: ['errors', 'clock', 'util', 'openpgp', 'keyring', 'verify'],
  keyring: ['errors', 'clock', 'util', 'openpgp'],
  verify: ['errors', 'clock', 'util', 'openpgp', 'keyring'],
  wot: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify'],
  ssh: ['errors', 'clock', 'util', 'openpgp'],
  files: ['errors', 'clock', 'util'],
  // The default keyserver is the client's (keyserver/url.ts); the client imports no configuration.
  config: ['errors', 'clock', 'util', 'files', 'keyserver'],
  store: ['errors', 'clock', 'util', 'openpgp', 'cert', 'verify', 'recon'],
  keyserver: ['errors', 'clock', 'util', 'openpgp', 'keyring'],
  gnupg: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify', 'wot', 'store', 'files', 'config'],
  keytrans: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify', 'ssh', 'files'],
  auth: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify', 'wot', 'ssh', 'files', 'config', 'store', 'keyserver', 'gnupg'],
  host: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify', 'wot', 'ssh', 'files', 'config', 'store', 'keyserver', 'gnupg', 'keytrans'],
  // The gpg-agent and ssh-agent protocols: they know key material, not trust.
  agent: ['errors', 'clock', 'util', 'openpgp', 'ssh'],
  // The user's tool: the user's GnuPG home evaluated by the engine, known_hosts, keys into ssh-agent.
  user: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify', 'wot', 'ssh', 'files', 'config', 'store', 'keyserver', 'gnupg', 'auth', 'agent'],
  // Set reconciliation (SKS recon): Z_p arithmetic, the prefix tree, the wire protocol. It knows nothing of OpenPGP.
  recon: ['errors', 'clock', 'util'],
  // The keyserver's service: ingest policy (verify, budget, held-aside certifications), takedowns, bulk import and dump.
  server: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify', 'store', 'files', 'config', 'keyserver', 'recon'],
  // The keyserver's HTTP face: HKP v1/v2, VKS, WKD, the web pages, health and metrics.
  hkp: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify', 'store', 'files', 'config', 'keyserver', 'server', 'recon'],
  // The validation agent (MSVA): TLS and SSH keys checked with the user's GnuPG trust, as the user's tool does.
  msva: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify', 'wot', 'ssh', 'files', 'config', 'store', 'keyserver', 'gnupg', 'keytrans', 'user'],
  cli: ['errors', 'clock', 'util', 'openpgp', 'cert', 'keyring', 'verify', 'wot', 'ssh', 'files', 'config', 'store', 'keyserver', 'gnupg', 'keytrans', 'auth', 'host', 'agent', 'user', 'server', 'hkp', 'msva', 'recon'],
};

/** Commands that are another command under the original's name (keytrans's translators): they only call its main. */
const ALIASES = new Set(['openpgp2ssh.ts', 'openpgp2pem.ts', 'openpgp2spki.ts', 'pem2openpgp.ts']);

/** Node modules that do I/O, which the pure parts (the trust engine) must not import. */
const IO_MODULES = /^node:(fs|fs\/promises|child_process|net|dgram|http|https|os|worker_threads|readline)$/;
const PURE = new Set(['wot']);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every module specifier a file imports: static, re-exported, side-effect and dynamic (with a literal). */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^'";]*?\sfrom\s+'([^']+)'/gms)) out.push(m[1]);
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push(m[1]);
  return out;
}

/** The part of src/ a file belongs to: its top-level directory, or its own name for a top-level module. */
function partOf(file: string): string {
  const rel = relative(SRC, file);
  return rel.includes('/') ? rel.split('/')[0] : rel.replace(/\.ts$/, '');
}

/** The command modules: what bin/*.js load from dist/cli/. */
function commandModules(): Set<string> {
  const out = new Set<string>();
  for (const name of readdirSync(join(ROOT, 'bin'))) {
    const m = /dist\/cli\/([\w-]+)\.js/.exec(readFileSync(join(ROOT, 'bin', name), 'utf8'));
    if (m) out.add(`${m[1]}.ts`);
  }
  return out;
}

interface Violation {
  file: string;
  spec: string;
  rule: string;
}

function violations(): Violation[] {
  const commands = commandModules();
  const out: Violation[] = [];
  for (const file of sourceFiles(SRC)) {
    const rel = relative(ROOT, file);
    const from = partOf(file);
    const allowed = MAY_IMPORT[from];
    if (!allowed) {
      out.push({ file: rel, spec: '', rule: `"${from}" is not in the layering table (test/architecture/imports.test.ts, docs/design/README.md)` });
      continue;
    }
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('node:')) {
        if (PURE.has(from) && IO_MODULES.test(spec)) out.push({ file: rel, spec, rule: `${from}/ is pure: no I/O modules` });
        continue;
      }
      if (!spec.startsWith('.')) continue;
      const target = join(dirname(file), spec);
      const targetRel = relative(ROOT, target);
      if (!targetRel.startsWith('src/')) {
        out.push({ file: rel, spec, rule: 'src/ imports nothing outside src/ (no test/, bench/ or scripts/)' });
        continue;
      }
      const to = partOf(target.replace(/\.js$/, '.ts'));
      if (to === from) {
        if (from === 'cli' && commands.has(relative(join(SRC, 'cli'), target.replace(/\.js$/, '.ts'))) && !ALIASES.has(relative(join(SRC, 'cli'), file))) {
          out.push({ file: rel, spec, rule: 'a command does not import another command: move what they share below cli/ or into a cli/ helper' });
        }
        continue;
      }
      if (!allowed.includes(to)) out.push({ file: rel, spec, rule: `${from} may not import ${to} (allowed: ${allowed.join(', ') || 'nothing'})` });
    }
  }
  return out;
}

describe('the direction of imports', () => {
  test('every import in src/ goes the way docs/design/README.md says', () => {
    const found = violations();
    assert.deepEqual(
      found.map((v) => `${v.file} imports ${v.spec}: ${v.rule}`),
      [],
    );
  });

  test('the check itself finds what it must: a static, a type-only, a re-export and a dynamic import', () => {
    const text = [
      "import { a } from '../store/index.js';",
      "import type { B } from '../cli/io.js';",
      "export { c } from './c.js';",
      "const m = await import('../gnupg/web.js');",
      "import 'node:fs';",
    ].join('\n');
    assert.deepEqual(importsOf(text), ['../store/index.js', '../cli/io.js', './c.js', 'node:fs', '../gnupg/web.js']);
  });

  test('every part of src/ is in the table, and the table names only parts that exist or are planned', () => {
    const parts = new Set(sourceFiles(SRC).map(partOf));
    for (const p of parts) assert.ok(MAY_IMPORT[p], `src/${p} is missing from the layering table`);
    for (const deps of Object.values(MAY_IMPORT)) for (const d of deps) assert.ok(MAY_IMPORT[d], `${d} is allowed but not a part`);
  });
});
