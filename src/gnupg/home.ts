/**
 * Reading a GnuPG home for a trust computation: its certificates (gpg --export, named by
 * the keyring files' bytes so gpg runs only when packets must be parsed), its ownertrust
 * (gpg --export-ownertrust) and gpg.conf's trust settings. Shared by monkeysphere-wot, the
 * user tool and the validation agent; nothing here prints.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UnsupportedError } from '../errors.js';
import type { TrustOptions } from '../wot/types.js';
import { normalizeKeyHandle, parseGpgConf, parseOwnertrust, parseRootHandle } from './config.js';
import { type Env, runGpg } from './gpg.js';
import { type CertSource, readInput, sourceOf } from './source.js';

/** The trust settings a GnuPG home contributes; command-line options may override them. */
export type GnupgTrustSettings = Pick<TrustOptions, 'marginalsNeeded' | 'completesNeeded' | 'maxCertDepth' | 'minCertLevel' | 'trustSignatures'>;

/** The inputs of a trust computation, as a GnuPG home holds them. */
export interface GnupgTrustInputs {
  home: string;
  source: CertSource;
  /** gpg.conf's trusted-key roots: fingerprints or long key IDs, canonical. */
  roots: string[];
  ownertrust: Map<string, number>;
  settings: GnupgTrustSettings;
}

export interface ReadHomeOptions {
  env: Env;
  /** Told what was ignored or is missing (wording without a `warning:` prefix). */
  onWarning?: (message: string) => void;
}

/** $GNUPGHOME, else ~/.gnupg. */
export function defaultGnupgHome(env: Env): string {
  return env.GNUPGHOME || join(env.HOME ?? homedir(), '.gnupg');
}

/**
 * The certificates, ownertrust and trust settings of the GnuPG home `home`.
 * @throws UnsupportedError (MS_WOT_TRUST_MODEL) when gpg.conf names a model other than pgp, classic or auto;
 * InputError (MS_WOT_GPGCONF, MS_WOT_OWNERTRUST, MS_WOT_READ); EnvironmentError (MS_WOT_GPG).
 */
export function readGnupgHome(home: string, opts: ReadHomeOptions): GnupgTrustInputs {
  const warn = opts.onWarning ?? (() => {});
  const roots: string[] = [];
  const settings: GnupgTrustSettings = {};
  const confPath = join(home, 'gpg.conf');
  if (existsSync(confPath)) {
    const conf = parseGpgConf(readInput(confPath, 'gpg.conf').toString('utf8'), confPath);
    const model = conf.trustModel;
    if (model === 'tofu+pgp') warn('gpg.conf sets trust-model tofu+pgp; only the pgp part is computed (no TOFU)');
    // classic: GnuPG 1's default, still in old gpg.conf files; the pgp model without trust signatures.
    else if (model === 'classic') settings.trustSignatures = false;
    else if (model !== undefined && model !== 'pgp' && model !== 'auto') {
      throw new UnsupportedError('MS_WOT_TRUST_MODEL', `gpg.conf sets trust-model ${model}; only the pgp and classic models are computed`, {
        hints: [`set trust-model pgp in ${confPath} (the default), or remove the line`],
      });
    }
    settings.marginalsNeeded = conf.marginalsNeeded;
    settings.completesNeeded = conf.completesNeeded;
    settings.maxCertDepth = conf.maxCertDepth;
    settings.minCertLevel = conf.minCertLevel;
    for (const key of conf.trustedKeys) {
      // As gpg: a short key ID names too many keys to be a root.
      const root = parseRootHandle(key);
      if (root) roots.push(root);
      else warn(`${confPath}: trusted-key ${normalizeKeyHandle(key)} is not a long key ID or fingerprint; ignored`);
    }
  }
  const source = gnupgSource(opts.env, home);
  let ownertrust = new Map<string, number>();
  if (existsSync(join(home, 'trustdb.gpg'))) ownertrust = parseOwnertrust(runGpg(opts.env, home, ['--export-ownertrust']).toString('utf8'), 'gpg --export-ownertrust');
  else warn(`${home} has no trustdb.gpg, so no ownertrust`);
  return { home, source, roots, ownertrust, settings };
}

/** GnuPG 2.2's default public keyrings. */
const GNUPG_KEYRINGS = ['pubring.kbx', 'pubring.gpg'];
const EXPORT_ARGS = ['--export', '--export-options', 'export-local-sigs'];
/** gpg.conf or common.conf options that make gpg read other keyrings, or export differently. */
const OTHER_KEYRINGS = /^\s*(keyring|primary-keyring|no-default-keyring|use-keyboxd|export-options)\b/m;

/**
 * The certificates of a GnuPG home. gpg --export takes long on a big keyring, so when the home
 * uses only its default keyring files, the source is named by their bytes and those of gpg.conf
 * and common.conf (the change detection behind snapshot reuse), and gpg runs only when packets
 * must be parsed. Otherwise (other keyrings, a keyboxd database) the home is exported at once
 * and named by the export.
 */
export function gnupgSource(env: Env, home: string): CertSource {
  const name = `gpg --export (${home})`;
  const confs = ['gpg.conf', 'common.conf'].map((f) => join(home, f)).filter((f) => existsSync(f));
  const confBytes = confs.map((f) => readInput(f, 'GnuPG configuration'));
  const files = GNUPG_KEYRINGS.map((f) => join(home, f)).filter((f) => existsSync(f));
  const elsewhere = existsSync(join(home, 'public-keys.d')) || confBytes.some((b) => OTHER_KEYRINGS.test(b.toString('utf8')));
  if (files.length === 0 || elsewhere) return sourceOf(name, runGpg(env, home, EXPORT_ARGS));
  const digestOfFiles = () => {
    const h = createHash('sha256').update(`gnupg\n${EXPORT_ARGS.join(' ')}\n`);
    for (const [i, f] of confs.entries()) h.update(`${f}\n`).update(createHash('sha256').update(confBytes[i]).digest());
    for (const f of files) h.update(`${f}\n`).update(createHash('sha256').update(readInput(f, 'GnuPG keyring')).digest());
    return h.digest();
  };
  let exported: Buffer | undefined;
  const source: CertSource = {
    name,
    digest: digestOfFiles(),
    bytes: () => {
      if (!exported) {
        exported = runGpg(env, home, EXPORT_ARGS);
        // Changed while we looked (gpg importing, say): name it by the export, which then never matches the files.
        if (!digestOfFiles().equals(source.digest)) source.digest = createHash('sha256').update('gnupg export\n').update(exported).digest();
      }
      return exported;
    },
  };
  return source;
}
