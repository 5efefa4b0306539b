/**
 * Identity certifiers of one account: `~/.monkeysphere/authorized_certifiers`
 * (AUTHORIZED_CERTIFIERS), read like authorized_user_ids (as the user, StrictModes), one
 * certifier per line with add-id-certifier's options:
 *
 *   [-n DOMAIN] [-t full|marginal] [-d DEPTH] FINGERPRINT
 *
 * They count for that account only, on top of the system's certifiers: when its
 * bindings are computed, each such key is treated as if the trust core had trust-signed
 * its user IDs with that trust, depth and domain. Nothing is signed or stored, so no
 * other account and no system-wide answer can see them. A full fingerprint is required:
 * a key ID names too many keys to delegate trust to. The key must be in the store
 * (imported, or found on the keyserver by update-users).
 * Not here: the computation (compute.ts computeAccountBindings).
 */
import { TRUST_AMOUNT } from './trust-amount.js';

export interface AccountCertifier {
  fpr: string;
  trust: 'full' | 'marginal';
  depth: number;
  domain?: string;
  line: number;
}

export interface ParsedAccountCertifiers {
  certifiers: AccountCertifier[];
  problems: Array<{ line: number; message: string }>;
}

const FINGERPRINT = /^(0x)?([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/;
const DOMAIN = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** Parses the file's text; a bad line is reported and grants nothing. */
export function parseAccountCertifiers(text: string): ParsedAccountCertifiers {
  const certifiers: AccountCertifier[] = [];
  const problems: ParsedAccountCertifiers['problems'] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const words = raw.trim().split(/\s+/).filter((w) => w !== '');
    if (words.length === 0 || words[0].startsWith('#')) return;
    let trust: AccountCertifier['trust'] = 'full';
    let depth = 1;
    let domain: string | undefined;
    let fpr: string | undefined;
    for (let j = 0; j < words.length; j++) {
      const w = words[j];
      const value = words[j + 1];
      if ((w === '-n' || w === '--domain') && value !== undefined && DOMAIN.test(value)) domain = value;
      else if ((w === '-t' || w === '--trust') && (value === 'full' || value === 'marginal')) trust = value;
      else if ((w === '-d' || w === '--depth') && value !== undefined && /^\d{1,3}$/.test(value) && Number(value) >= 1 && Number(value) <= 255) depth = Number(value);
      else if (FINGERPRINT.test(w) && fpr === undefined) {
        fpr = w.replace(/^0x/, '').toUpperCase();
        continue;
      } else {
        problems.push({ line, message: `not understood: ${JSON.stringify(w)} (a line is [-n DOMAIN] [-t full|marginal] [-d DEPTH] FINGERPRINT)` });
        return;
      }
      j++;
    }
    if (fpr === undefined) {
      problems.push({ line, message: 'no full fingerprint (40 or 64 hex digits) on the line' });
      return;
    }
    certifiers.push({ fpr, trust, depth, domain, line });
  });
  return { certifiers, problems };
}

/** The trust amount gpg's tsign gives this level. */
export function amountOf(c: AccountCertifier): number {
  return TRUST_AMOUNT[c.trust];
}
