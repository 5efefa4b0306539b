/**
 * Reading GnuPG's trust settings from text: `gpg --export-ownertrust` output and the
 * trust options of gpg.conf. Pure parsing; home.ts runs gpg and reads the files.
 * GnuPG's human-readable output is never parsed.
 */
import { InputError } from '../errors.js';
import { asFingerprint, normalizeHex, parseKeySpec } from '../openpgp/fingerprint.js';

/**
 * Parses `gpg --export-ownertrust` (and `--import-ownertrust` input): `FPR:VALUE:` lines,
 * `#` comments. VALUE keeps gpg's flags (128 disabled); `& 15` is the trust value.
 * @throws InputError (MS_WOT_OWNERTRUST) on a malformed line, naming it.
 */
export function parseOwnertrust(text: string, source = 'ownertrust'): Map<string, number> {
  const out = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([0-9A-Fa-f]{32,64}):(\d{1,3}):?$/.exec(line);
    if (!m || Number(m[2]) > 255) {
      throw new InputError('MS_WOT_OWNERTRUST', `${source}:${i + 1}: not an ownertrust line: ${JSON.stringify(raw.slice(0, 80))}`, {
        hints: ['lines look like FINGERPRINT:VALUE: as written by gpg --export-ownertrust (6 ultimate, 5 full, 4 marginal, 3 never)'],
      });
    }
    out.set(asFingerprint(m[1]), Number(m[2]));
  });
  return out;
}

export interface GpgTrustConfig {
  marginalsNeeded?: number;
  completesNeeded?: number;
  maxCertDepth?: number;
  minCertLevel?: number;
  trustModel?: string;
  /** `trusted-key` values (key IDs or fingerprints), roots like ownertrust 6. */
  trustedKeys: string[];
}

/**
 * The trust options of a gpg.conf: marginals-needed, completes-needed, max-cert-depth,
 * min-cert-level, trust-model and trusted-key. Other options are ignored; the last
 * occurrence wins, as in gpg.
 * @throws InputError (MS_WOT_GPGCONF) when one of these has an unusable value.
 */
export function parseGpgConf(text: string, source = 'gpg.conf'): GpgTrustConfig {
  const out: GpgTrustConfig = { trustedKeys: [] };
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:--)?([A-Za-z0-9-]+)(?:[\s=]+(.*))?$/.exec(line);
    if (!m) return;
    const name = m[1].toLowerCase();
    const value = (m[2] ?? '').trim().replace(/^"(.*)"$/, '$1');
    const number = (lo: number, hi: number): number => {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < lo || n > hi) {
        throw new InputError('MS_WOT_GPGCONF', `${source}:${i + 1}: ${name} needs a number from ${lo} to ${hi}, not ${JSON.stringify(value)}`);
      }
      return n;
    };
    switch (name) {
      case 'marginals-needed':
        out.marginalsNeeded = number(2, 255);
        break;
      case 'completes-needed':
        out.completesNeeded = number(1, 255);
        break;
      case 'max-cert-depth':
        out.maxCertDepth = number(1, 255);
        break;
      case 'min-cert-level':
        out.minCertLevel = number(1, 3);
        break;
      case 'trust-model':
        out.trustModel = value.toLowerCase();
        break;
      case 'trusted-key':
        if (value) out.trustedKeys.push(value);
        break;
      default:
        break;
    }
  });
  return out;
}

/**
 * A root as people name one: a fingerprint (v4, v6) or a 16-digit key ID, canonical; undefined
 * for anything else (a short key ID names too many keys to be a root).
 */
export function parseRootHandle(handle: string): string | undefined {
  try {
    const spec = parseKeySpec(handle);
    if (spec.kind === 'fingerprint') return spec.fpr;
    if (spec.kind === 'keyid') return spec.keyId;
    return undefined;
  } catch (err) {
    if (err instanceof InputError) return undefined;
    throw err;
  }
}

/** A key handle as users type it (`0x`, spaces, any case) in canonical form, for messages about it whether or not it parses. */
export function normalizeKeyHandle(handle: string): string {
  const spec = (() => {
    try {
      return parseKeySpec(handle);
    } catch {
      return undefined;
    }
  })();
  if (spec) return spec.kind === 'fingerprint' ? spec.fpr : spec.kind === 'keyid' ? spec.keyId : spec.hex;
  // Not a key reference: the same clean-up, so the message names what was meant.
  return normalizeHex(handle);
}
