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

/** SHA-256 over the names and contents of the modules in `dirs` (relative to src/ or dist/). */
export function codeDigest(dirs: readonly string[]): Buffer {
  const key = dirs.join('\n');
  let digest = cache.get(key);
  if (!digest) {
    const h = createHash('sha256');
    const sources = new URL('../../src/', import.meta.url);
    const root = existsSync(sources) ? sources : new URL('../', import.meta.url);
    try {
      for (const dir of dirs) {
        const url = new URL(`${dir}/`, root);
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

/** The modules that decide what a certificate and a web of trust say. */
export const EVALUATION_CODE = ['cert', 'keyring', 'openpgp', 'util', 'verify', 'wot'] as const;
