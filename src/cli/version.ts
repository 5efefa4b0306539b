/** The package version, as every command's `version` subcommand prints it. */
import { readFileSync } from 'node:fs';

/** package.json's version; `unknown` when installed without package.json next to dist. */
export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    // Installed without package.json next to dist: say so rather than fail.
    return 'unknown';
  }
}
