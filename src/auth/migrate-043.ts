/**
 * Migration from Monkeysphere 0.43's authentication data, which lives in two GnuPG homes
 * under $SYSDATADIR/authentication:
 *
 *   core/    root's: the 0.43 trust core's secret key (RSA), and the certifiers' keys
 *            carrying the core's local trust signatures (what add-id-certifier made);
 *   sphere/  the monkeysphere user's: every certificate the server knows (certifiers,
 *            users), the core's public key with ultimate ownertrust.
 *
 * What moves into the store: every certificate of both homes (through the one ingest
 * path), and for each user ID the 0.43 core trust-signs, a trust signature by our core
 * with the same depth, amount and regex, so each certifier keeps its trust, depth and
 * domain. Certifiers are read from core/ only: the sphere belongs to the monkeysphere
 * user, and nothing that user can write may make anyone a certifier.
 * The old homes are read through private copies and never changed; the store records that
 * the migration is done (meta `auth.migrated-043`), and until it is, update-users writes
 * no authorized_keys file (see the CLI), so a failed or partial migration locks nobody out.
 * Running it again is harmless: certificates merge, and trust signatures already made are
 * not made twice.
 * Not here: the host key (src/host/migrate-043.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { UnixTime } from '../clock.js';
import { EnvironmentError } from '../errors.js';
import type { Env } from '../config/config.js';
import { parseOwnertrust } from '../gnupg/config.js';
import { withGnupgHomeCopy } from '../gnupg/home-copy.js';
import { type Cert, readCerts } from '../openpgp/cert.js';
import { type CertifierEntry, trustSignedBy } from './certifiers.js';
import type { AuthPaths } from './config.js';
import { CORE_UID_PREFIX, type CoreKey, trustSign } from './core.js';
import { type DroppedCounts, ingestCerts } from './ingest.js';
import type { VerificationCache } from '../verify/cache.js';
import type { AuthStore } from './store.js';

const MIGRATED = 'auth.migrated-043';

/** Where 0.43 kept its authentication keyrings. */
export interface Legacy043 {
  coreHome: string;
  sphereHome: string;
}

/** What a migration will do, for `migrate` to show before doing it. */
export interface MigrationPlan {
  source: Legacy043;
  /** The 0.43 trust core's fingerprint. */
  oldCore: string;
  /** Each user ID the 0.43 core trust-signs: its certifier's key, depth, amount and regex. */
  certifiers: CertifierEntry[];
  /** Certificates to import (both homes, without the 0.43 core). */
  certs: Cert[];
  /** Things 0.43 honoured that do not carry over, in words. */
  warnings: string[];
}

export interface MigrationResult {
  imported: number;
  /** User IDs trust-signed by our core in this run (0 when they already were). */
  signed: number;
  dropped: Array<{ fpr: string; dropped: DroppedCounts }>;
}

function hasKeyring(home: string): boolean {
  return existsSync(join(home, 'pubring.kbx')) || existsSync(join(home, 'pubring.gpg'));
}

/** The 0.43 data under $SYSDATADIR/authentication, when there is any. */
export function findLegacy043(paths: AuthPaths): Legacy043 | undefined {
  const source = { coreHome: join(paths.dataDir, 'core'), sphereHome: join(paths.dataDir, 'sphere') };
  return hasKeyring(source.coreHome) ? source : undefined;
}

/** Whether the store records a finished migration. */
export async function isMigrated(store: AuthStore): Promise<boolean> {
  return (await store.store.meta.getMeta(MIGRATED)) !== undefined;
}

/**
 * Reads the 0.43 homes and works out what to migrate; changes nothing (`cache` only remembers
 * signature checks).
 * @throws EnvironmentError (MS_MIGRATE_GPG, MS_MIGRATE_READ, MS_MIGRATE_CORE) when they cannot be read or hold no 0.43 core.
 */
export async function planMigration(cache: VerificationCache, source: Legacy043, env: Env, now: UnixTime): Promise<MigrationPlan> {
  const warnings: string[] = [];
  const coreCerts = withGnupgHomeCopy(source.coreHome, env, {}, (copy) => readCerts(copy.gpg(['--export', '--export-options', 'export-local-sigs'])).certs);
  let sphereCerts: Cert[] = [];
  let ownertrust = new Map<string, number>();
  if (hasKeyring(source.sphereHome)) {
    withGnupgHomeCopy(source.sphereHome, env, {}, (copy) => {
      sphereCerts = readCerts(copy.gpg(['--export'])).certs;
      if (existsSync(join(copy.home, 'trustdb.gpg'))) ownertrust = parseOwnertrust(copy.gpg(['--export-ownertrust']).toString('utf8'), `${source.sphereHome} ownertrust`);
    });
  } else warnings.push(`${source.sphereHome} holds no keyring; only the certifiers' keys are migrated`);

  // The 0.43 core: the key of core/ with the core's user ID, ultimately trusted in the sphere when that says.
  const cores = coreCerts.filter((c) => c.users.some((u) => u.kind === 'userid' && u.text.startsWith(CORE_UID_PREFIX)));
  const ultimate = cores.filter((c) => ownertrust.get(c.primary.fpr) === 6);
  const oldCore = ultimate.length === 1 ? ultimate[0] : cores.length === 1 ? cores[0] : undefined;
  if (!oldCore) {
    throw new EnvironmentError('MS_MIGRATE_CORE', `cannot tell the Monkeysphere 0.43 trust core in ${JSON.stringify(source.coreHome)} (${cores.length} candidate key(s))`, {
      hints: ['the 0.43 data is left as it is; nothing was changed'],
    });
  }
  for (const [fpr, level] of ownertrust) {
    if (fpr === oldCore.primary.fpr || level < 4) continue;
    warnings.push(`the 0.43 sphere gave key ${fpr} ${level === 5 ? 'full' : level === 6 ? 'ultimate' : 'marginal'} ownertrust by hand; that is not migrated (make it a certifier with add-id-certifier if it should be one)`);
  }
  const certifiers = await trustSignedBy(cache, oldCore, coreCerts, now);
  const byFpr = new Map<string, Cert>();
  for (const c of [...coreCerts, ...sphereCerts]) if (c.primary.fpr !== oldCore.primary.fpr && !byFpr.has(c.primary.fpr)) byFpr.set(c.primary.fpr, c);
  return { source, oldCore: oldCore.primary.fpr, certifiers, certs: [...byFpr.values()], warnings };
}

const signatureKey = (e: CertifierEntry) => `${e.fpr}\n${e.userId}\n${e.depth}\n${e.amount}\n${e.regex}`;

/**
 * Carries out a plan: the certifiers' keys first (so their certifications of users are
 * known when those arrive), our core's trust signatures, then every other certificate;
 * then records the migration.
 */
export async function applyMigration(store: AuthStore, core: CoreKey, plan: MigrationPlan, now: UnixTime): Promise<MigrationResult> {
  const certifierFprs = new Set(plan.certifiers.map((e) => e.fpr));
  const dropped: MigrationResult['dropped'] = [];
  const ingest = async (certs: Cert[]) => {
    if (certs.length === 0) return;
    for (const c of (await ingestCerts(store, certs, now)).certs) if (Object.values(c.dropped).some((n) => n > 0)) dropped.push({ fpr: c.fpr, dropped: c.dropped });
  };
  await ingest(plan.certs.filter((c) => certifierFprs.has(c.primary.fpr)));
  const stored = await store.loadCerts([...certifierFprs]);
  const already = new Set((await trustSignedBy(store.cache, core.cert, stored, now)).map(signatureKey));
  let signed = 0;
  for (const cert of stored) {
    // One trust signature per user ID, grouped so each fragment carries the same depth, amount and regex.
    const groups = new Map<string, CertifierEntry[]>();
    for (const e of plan.certifiers) {
      if (e.fpr !== cert.primary.fpr || already.has(signatureKey(e))) continue;
      const k = `${e.depth}\n${e.amount}\n${e.regex}`;
      groups.set(k, [...(groups.get(k) ?? []), e]);
    }
    for (const entries of groups.values()) {
      const { depth, amount, regex } = entries[0];
      const fragment = trustSign(core, cert, entries.map((e) => e.userId), { now, depth, amount, regex: regex === '' ? undefined : regex });
      await store.putCerts([fragment], now);
      signed += entries.length;
    }
  }
  await ingest(plan.certs.filter((c) => !certifierFprs.has(c.primary.fpr)));
  await store.store.meta.setMeta(MIGRATED, JSON.stringify({ at: now, oldCore: plan.oldCore, certifiers: plan.certifiers.length, certs: plan.certs.length }));
  return { imported: plan.certs.length, signed, dropped };
}
