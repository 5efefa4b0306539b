/**
 * Asking a keyserver for the certificates of user IDs and importing them into the user's
 * GnuPG keyring, as the original's `gpg --search =UID` + `--recv-keys` (behaviour inventory
 * §2, step 1). What comes back is never trusted for where it came from: it joins the keyring,
 * and the web of trust decides. Bounded in time and size, and imported with gpg's
 * `import-clean`, which drops the signatures of keys the keyring does not hold, so a flooded
 * certificate (CVE-2019-13050) cannot make gpg, or us, crawl. Failures are reported, not
 * thrown: the local keyring still answers.
 */
import { spawnSync } from 'node:child_process';
import { errorMessage, MsError } from '../errors.js';
import type { Env } from '../gnupg/gpg.js';
import { KeyserverClient } from '../keyserver/client.js';
import { writeCerts } from '../openpgp/cert.js';

/** A keyserver answer larger than this is refused (a host's or a person's certificate is far smaller). */
const MAX_ANSWER = 2 * 1024 * 1024;

export interface FetchOptions {
  keyserver: string;
  /** Seconds for all lookups together. */
  timeoutSeconds: number;
  gnupgHome: string;
  env: Env;
  verbose: (message: string) => void;
  error: (message: string) => void;
}

/** Looks each user ID up and imports what matches exactly; returns how many certificates were imported. */
export async function fetchUserIds(userIds: readonly string[], opts: FetchOptions): Promise<number> {
  const deadlineMs = Math.max(1, opts.timeoutSeconds) * 1000;
  const client = new KeyserverClient({ servers: [opts.keyserver], timeoutMs: deadlineMs, deadlineMs, maxResponseBytes: MAX_ANSWER });
  const signal = AbortSignal.timeout(deadlineMs);
  let imported = 0;
  for (const userId of userIds) {
    opts.verbose(` checking keyserver ${opts.keyserver}... `);
    try {
      const found = await client.searchExact(userId, { signal });
      opts.verbose(` Found keyids on keyserver: ${found.matches.map((m) => `0x${m.id}`).join(' ')}`);
      for (const u of found.unfetched) opts.error(`Failure receiving keyid 0x${u.key.id} from keyserver ${opts.keyserver}: ${errorMessage(u.error)}`);
      if (found.certs.length === 0) continue;
      importCerts(writeCerts(found.certs), opts);
      imported += found.certs.length;
    } catch (err) {
      opts.error(`Failure searching keyserver ${opts.keyserver} for user id '${userId}': ${errorMessage(err)}`);
      if (signal.aborted) break;
    }
  }
  return imported;
}

/**
 * Fetches the certificate with each fingerprint (a primary's or a subkey's, as gpg's
 * `--recv-keys 0xFPR`) and imports what the keyserver has; returns how many certificates
 * were imported. A key the keyserver does not have is reported at the verbose level.
 */
export async function fetchFingerprints(fingerprints: readonly string[], opts: FetchOptions): Promise<number> {
  const deadlineMs = Math.max(1, opts.timeoutSeconds) * 1000;
  const client = new KeyserverClient({ servers: [opts.keyserver], timeoutMs: deadlineMs, deadlineMs, maxResponseBytes: MAX_ANSWER });
  const signal = AbortSignal.timeout(deadlineMs);
  let imported = 0;
  for (const fpr of fingerprints) {
    opts.verbose(` checking keyserver ${opts.keyserver} for 0x${fpr}... `);
    try {
      const found = await client.getByFingerprint(fpr, { signal });
      if (found.certs.length === 0) continue;
      importCerts(writeCerts(found.certs), opts);
      imported += found.certs.length;
    } catch (err) {
      if (err instanceof MsError && err.code === 'MS_KEYSERVER_NOT_FOUND') opts.verbose(` 0x${fpr} is not on keyserver ${opts.keyserver}`);
      else opts.error(`Failure receiving 0x${fpr} from keyserver ${opts.keyserver}: ${errorMessage(err)}`);
      if (signal.aborted) break;
    }
  }
  return imported;
}

/** `gpg --import` with import-clean into the GnuPG home. @throws Error naming gpg's complaint. */
function importCerts(bytes: Buffer, opts: FetchOptions): void {
  const r = spawnSync('gpg', ['--homedir', opts.gnupgHome, '--batch', '--no-tty', '--quiet', '--import-options', 'import-clean', '--import'], {
    input: bytes,
    env: { ...opts.env, LC_ALL: 'C' },
    timeout: 60_000,
  });
  if (r.error) throw new Error(`cannot run gpg: ${r.error.message}`);
  // gpg exits 2 when some signature was skipped; what it could import is in.
  if (r.status !== 0 && r.status !== 2) throw new Error(`gpg --import failed (exit ${r.status}): ${r.stderr.toString('utf8').trim().split('\n').pop() ?? ''}`);
}
