/**
 * `npm run build`: compiles src/ into dist/ with tsc (modules that tests, benchmarks and the
 * shims' fallback import), then bundles every command bin/ names (src/cli/<name>.ts) into
 * one CommonJS file dist/bundle/<name>.cjs with esbuild, with a V8 code cache beside it,
 * which the shims prefer: a command then starts without resolving, reading and compiling
 * dozens of modules (BENCHMARKS.md §5). Native and optional packages (better-sqlite3, pg)
 * stay in node_modules. Like tsc, it bundles despite type errors, and an import of a
 * module not written yet is left to fail when that path runs, with a warning here.
 * Files are replaced one by one by rename, so a command started meanwhile (tests build
 * while others run) reads a whole old or whole new file. Exits non-zero when tsc, esbuild
 * or a code cache failed; without bundles the shims run dist/cli/.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build, type Plugin } from 'esbuild';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const SRC = join(ROOT, 'src');
const OUT = join(ROOT, 'dist', 'bundle');
/** Packages loaded from node_modules at run time: native code (better-sqlite3), optional native parts (pg's pg-native). */
const EXTERNAL = ['better-sqlite3', 'pg'];

/** The commands to bundle: each bin/<name>.js whose src/cli/<name>.ts exists (others are not written yet). */
export function commands(root = ROOT): string[] {
  return readdirSync(join(root, 'bin'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => f.slice(0, -3))
    .filter((name) => existsSync(join(root, 'src', 'cli', `${name}.ts`)))
    .sort();
}

/** Leaves an import of one of our modules that does not exist (yet) to run time, as tsc's output would, and says so. */
const missingModules: Plugin = {
  name: 'missing-modules',
  setup(b) {
    b.onResolve({ filter: /^\./ }, (args) => {
      if (!args.resolveDir.startsWith(SRC)) return undefined;
      const path = resolve(args.resolveDir, args.path);
      if ([path, path.replace(/\.js$/, '.ts')].some((p) => existsSync(p))) return undefined;
      return { path: args.path, external: true, warnings: [{ text: `${args.path} does not exist: left to fail at run time` }] };
    });
  },
};

/** Writes `data` to `path` through a temp file and a rename. */
function replace(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function tsc(): boolean {
  const r = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  return r.status === 0;
}

/** Bundles the launcher and the commands; returns the bundles written. */
async function bundle(names: string[]): Promise<string[]> {
  const result = await build({
    entryPoints: [{ in: join(SRC, 'cli', 'launch.ts'), out: 'launch' }, ...names.map((n) => ({ in: join(SRC, 'cli', `${n}.ts`), out: n }))],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outdir: OUT,
    outExtension: { '.js': '.cjs' },
    external: EXTERNAL,
    // Paths made from import.meta.url (package.json, src/ or dist/ for the code digest)
    // stay right: a bundle sits one directory below dist/, as dist/cli/ does.
    define: { 'import.meta.url': '__msImportMetaUrl' },
    banner: { js: "var __msImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [missingModules],
    logLevel: 'warning',
    write: false,
  });
  mkdirSync(OUT, { recursive: true });
  const written: string[] = [];
  for (const f of result.outputFiles) {
    const id = createHash('sha256').update(f.contents).digest('hex').slice(0, 16);
    replace(f.path, `// build ${id}\n${f.text}`);
    written.push(f.path);
  }
  return written;
}

/** Makes each bundle's code cache in a plain node (no flags, no NODE_OPTIONS), as the commands run. */
async function caches(bundles: string[]): Promise<{ made: string[]; failed: string[] }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const launcher = join(OUT, 'launch.cjs');
  const made: string[] = [];
  const failed: string[] = [];
  await Promise.all(
    bundles.map(async (file) => {
      try {
        const { stdout } = await promisify(execFile)(process.execPath, ['-e', 'process.stdout.write(require(process.argv[1]).makeCache(process.argv[2]))', launcher, file], { cwd: ROOT, env });
        made.push(stdout);
      } catch (err) {
        failed.push(file);
        process.stderr.write(`build: error: ${file}: no code cache: ${(err as Error).message}\n`);
        // Its top level fails: leave the command to dist/cli/, which says why when run.
        rmSync(file, { force: true });
      }
    }),
  );
  return { made, failed };
}

async function main(): Promise<number> {
  const typed = tsc();
  if (!typed) process.stderr.write('build: tsc reported errors (dist/ is written all the same)\n');
  const names = commands();
  let bundles: string[] = [];
  let bundled = true;
  try {
    bundles = await bundle(names);
  } catch (err) {
    bundled = false;
    process.stderr.write(`build: error: esbuild failed, the commands will run from dist/cli/: ${(err as Error).message}\n`);
  }
  const { made, failed } = bundled ? await caches(bundles.filter((f) => !f.endsWith('/launch.cjs'))) : { made: [], failed: [] };
  // Whatever this build did not write is stale: an old command's bundle, an old cache.
  const keep = new Set([...bundles, ...made].map((p) => p.slice(OUT.length + 1)));
  if (existsSync(OUT)) for (const f of readdirSync(OUT)) if (!keep.has(f) && !f.endsWith('.tmp')) rmSync(join(OUT, f), { force: true });
  if (bundled) process.stderr.write(`build: ${names.length} commands bundled into dist/bundle/ (${made.length} code caches)\n`);
  return typed && bundled && failed.length === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) process.exitCode = await main();
