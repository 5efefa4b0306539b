/**
 * How a bin/ shim starts a command built into one file, dist/bundle/<name>.cjs
 * (scripts/build.ts): compiled with the V8 code cache the build stored beside it, so a
 * start neither resolves and reads dozens of modules nor compiles their top level again
 * (BENCHMARKS.md §5). A missing, stale or rejected cache only costs that compilation.
 * Not a command: the build bundles it alone into dist/bundle/launch.cjs.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { constants, Script } from 'node:vm';

type Main = (argv: string[]) => Promise<number>;

/** The first line the build puts in every bundle: `// build <id>`, naming its code cache. */
const BUILD_LINE = /^\/\/ build ([0-9a-f]+)\n/;

/**
 * The code cache of the bundle `file` whose text is `source`: `<name>.<id>.cache`, named by
 * the build's digest of the bundle, so a cache never meets other code (V8 checks only the
 * source's length, its own version and flags). null for a bundle without a build line.
 */
export function cacheFile(file: string, source: string): string | null {
  const id = BUILD_LINE.exec(source)?.[1];
  return id ? file.replace(/\.cjs$/, `.${id}.cache`) : null;
}

/** Compiles the bundle as Node compiles a CommonJS module, with `cachedData` if given. */
function compile(file: string, source: string, cachedData: Buffer | undefined): Script {
  return new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
    // import() of a module the bundle left out resolves as in an ordinary module.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
}

/** Runs the compiled bundle's top level and returns its exports. */
function evaluate(script: Script, file: string): { main: Main } {
  const module = { exports: {} as { main: Main } };
  const fn = script.runInThisContext() as (e: object, r: NodeJS.Require, m: object, f: string, d: string) => void;
  fn.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return module.exports;
}

/** Loads the bundle `file` (with its code cache when there is one) and tells whether V8 took the cache. */
export function load(file: string): { main: Main; cached: boolean } {
  const source = readFileSync(file, 'utf8');
  const cache = cacheFile(file, source);
  let cachedData: Buffer | undefined;
  try {
    cachedData = cache ? readFileSync(cache) : undefined;
  } catch {
    // No cache (not made, or removed): compile.
  }
  const script = compile(file, source, cachedData);
  return { main: evaluate(script, file).main, cached: cachedData !== undefined && script.cachedDataRejected === false };
}

/** What a shim calls: runs the bundle's main on this process's arguments and exits with its code. */
export function launch(file: string): void {
  const { main } = load(file);
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

/**
 * Writes the code cache of the bundle `file` (the build runs this in a plain `node`, as the
 * commands run): its top level compiled and run, so the cache holds what every start
 * compiles. Returns the cache's path.
 */
export function makeCache(file: string): string {
  const source = readFileSync(file, 'utf8');
  const cache = cacheFile(file, source);
  if (!cache) throw new Error(`${file}: no build line`);
  const script = compile(file, source, undefined);
  evaluate(script, file);
  const tmp = `${cache}.${process.pid}.tmp`;
  writeFileSync(tmp, script.createCachedData());
  renameSync(tmp, cache);
  return cache;
}
