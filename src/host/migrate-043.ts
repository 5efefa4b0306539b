/**
 * Migration from Monkeysphere 0.43's host keys, kept in the GnuPG home $SYSDATADIR/host
 * (what `monkeysphere-host import-key` made there: an unprotected secret key per host key,
 * with its service names, expiry, revokers and any certifications imported since). Each
 * secret key moves into the host key store as gpg exports it, packet for packet, so its
 * fingerprint (which depends on the key's creation time) and every certification it
 * carries are kept; making a new key from /etc/ssh's file would lose both.
 * The old home is read through a private copy and never changed; a key already in the
 * store is left as it is, so migrating twice is harmless.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../config/index.js';
import { InputError } from '../errors.js';
import { withGnupgHomeCopy } from '../gnupg/home-copy.js';
import { type Cert, readCerts } from '../openpgp/cert.js';
import { privateKeyFromPacket } from '../keytrans/index.js';
import type { HostKeyStore, HostPaths } from './store.js';

/** The 0.43 host GnuPG home, when it holds a keyring. */
export function findLegacyHostHome(paths: HostPaths): string | undefined {
  const home = join(paths.sysDataDir, 'host');
  return existsSync(join(home, 'pubring.kbx')) || existsSync(join(home, 'pubring.gpg')) ? home : undefined;
}

export interface HostMigrationPlan {
  home: string;
  /** Secret keys to move, with whether the store already has each. */
  keys: Array<{ cert: Cert; present: boolean }>;
}

/**
 * The secret keys of the 0.43 host home.
 * @throws EnvironmentError (MS_MIGRATE_GPG, MS_MIGRATE_READ); InputError (MS_MIGRATE_HOST_KEY) for a key we cannot use.
 */
export function planHostMigration(store: HostKeyStore, home: string, env: Env): HostMigrationPlan {
  const bytes = withGnupgHomeCopy(home, env, { secrets: true }, (copy) => copy.gpg(['--export-secret-keys']));
  const { certs } = readCerts(bytes);
  const present = new Set(store.list().map((k) => k.fpr));
  const keys = certs.map((cert) => {
    if (!cert.secret) throw new InputError('MS_MIGRATE_HOST_KEY', `0.43 host key ${cert.primary.fpr} was exported without its secret`);
    try {
      privateKeyFromPacket(cert.primary);
    } catch (err) {
      throw new InputError('MS_MIGRATE_HOST_KEY', `0.43 host key ${cert.primary.fpr} cannot be used: ${(err as Error).message}`, {
        cause: err,
        hints: ['a passphrase-protected key must be unprotected first (gpg --homedir /var/lib/monkeysphere/host --passwd)'],
      });
    }
    return { cert, present: present.has(cert.primary.fpr) };
  });
  return { home, keys };
}

/** Saves the keys the store lacks; returns their fingerprints. */
export function applyHostMigration(store: HostKeyStore, plan: HostMigrationPlan): string[] {
  const saved: string[] = [];
  for (const k of plan.keys) {
    if (k.present) continue;
    store.save(k.cert);
    saved.push(k.cert.primary.fpr);
  }
  return saved;
}
