/**
 * A digest of the code in some of the package's directories, so that results stored by
 * one version of the rules are never taken for results of another, whatever the package
 * version says: an upgrade recomputes. The TypeScript sources are digested when the
 * package has them, from src/ (under tsx) and dist/ alike, so the compiled commands and
 * code run from source agree on the stamp; else the compiled files. Unreadable code gets
 * a random value, so nothing stored is then reused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const cache = new Map<string, Buffer>();

/**
 * SHA-256 over the names and contents of the modules in `entries`, each a directory or a
 * top-level module without its extension (`errors`), relative to src/ or dist/.
 */
export function codeDigest(entries: readonly string[]): Buffer {
    const key = entries.join('\n');
  let digest = cache.get(key);
  if (!digest) {
    const h = createHash('sha256');
    const sources = new URL('../../src/', import.meta.url);
    const root = existsSync(sources) ? sources : new URL('../', import.meta.url);
    try {
      for (const dir of entries) {
        const url = new URL(`${dir}/`, root);
        if (!existsSync(url)) {
          const file = [`${dir}.ts`, `${dir}.js`].map((n) => new URL(n, root)).find((u) => existsSync(u));
          if (!file) throw new Error(`no module ${dir}`);
          h.update(dir).update(readFileSync(file));
          continue;
        }
        for (const name of readdirSync(url).filter((n) => /\.(js|ts)$/.test(n) && !n.endsWith('.test.ts')).sort()) h.update(`${dir}/${name}`).update(readFileSync(new URL(name, url)));
      }
      digest = h.digest();
    } catch {
      digest = randomBytes(32);
    }
    cache.set(key, digest);
  }
  return digest;
}

/**
 * The modules that decide what a certificate and a web of trust say: everything the
 * evaluation and the trust engine import (test/util/code-digest.test.ts follows the
 * imports and fails when this list misses one).
 */
export const EVALUATION_CODE = ['cert', 'keyring', 'openpgp', 'util', 'verify', 'wot', 'clock', 'errors'] as const;
