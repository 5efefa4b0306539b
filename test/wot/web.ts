/**
 * A tiny builder for hand-made web-of-trust summaries (no packets): named keys with
 * user IDs, certifications with trust, scope, expiry and outcome, and the engine's
 * options. Fingerprints are derived from the names, so tests read like the diagrams.
 */
import { createHash } from 'node:crypto';
import { TrustNetwork } from '../../src/wot/network.js';
import type { TrustOptions, WotCertification, WotKey, WotUserId } from '../../src/wot/types.js';

export const T0 = 1672531200; // 2023-01-01T00:00:00Z
export const NOW = 1673740800; // 2023-01-15T00:00:00Z
export const DAY = 86400;

export function fprOf(name: string): string {
  return createHash('sha1').update(name).digest('hex').toUpperCase();
}

export interface CertSpec {
  uid?: number;
  created?: number;
  expires?: number;
  tsig?: [level: number, amount: number];
  regex?: string | string[];
  type?: number;
  revocable?: boolean;
  exportable?: boolean;
  outcome?: WotCertification['outcome'];
  policyReason?: string;
  hash?: number;
}

/** gpg's tsign scope for a domain: `<[^>]+[@.]example\.org>$`. */
export function domainRegex(domain: string): string {
  return `<[^>]+[@.]${domain.replace(/[^A-Za-z0-9]/g, (c) => `\\${c}`)}>$`;
}

export class Web {
  readonly keys: WotKey[] = [];
  private readonly byName = new Map<string, WotKey>();

  key(name: string, uids: Array<string | Partial<WotUserId>> = [`${name} <${name}@example.com>`], extra: Partial<WotKey> = {}): WotKey {
    const fpr = fprOf(name);
    const key: WotKey = {
      fpr,
      keyId: fpr.slice(-16),
      created: T0 - 30 * DAY,
      status: 'valid',
      userIds: uids.map((u) => (typeof u === 'string' ? { text: u, status: 'valid', certifications: [] } : { text: '', status: 'valid', certifications: [], ...u })),
      ...extra,
    };
    this.keys.push(key);
    this.byName.set(name, key);
    return key;
  }

  get(name: string): WotKey {
    const k = this.byName.get(name);
    if (!k) throw new Error(`no key ${name}`);
    return k;
  }

  fpr(name: string): string {
    return this.get(name).fpr;
  }

  /** The name of the key with this fingerprint. */
  name(fpr: string): string {
    for (const [n, k] of this.byName) if (k.fpr === fpr) return n;
    throw new Error(`no key ${fpr}`);
  }

  uid(name: string, i = 0): string {
    return this.get(name).userIds[i].text;
  }

  /** `issuer` certifies `target`'s user ID. */
  certify(issuer: string, target: string, spec: CertSpec = {}): WotCertification {
    const iss = this.get(issuer);
    const cert: WotCertification = {
      issuer: iss.fpr,
      issuerKeyId: iss.keyId,
      type: spec.type ?? 0x10,
      created: spec.created ?? T0,
      expires: spec.expires,
      trust: spec.tsig ? { level: spec.tsig[0], amount: spec.tsig[1] } : undefined,
      regexes: spec.regex === undefined ? [] : Array.isArray(spec.regex) ? spec.regex : [spec.regex],
      exportable: spec.exportable ?? true,
      revocable: spec.revocable ?? true,
      hashAlgorithm: spec.hash ?? 8,
      outcome: spec.outcome ?? 'good',
      policyReason: spec.policyReason,
    };
    this.get(target).userIds[spec.uid ?? 0].certifications.push(cert);
    return cert;
  }

  /** `issuer` revokes its certification of `target`'s user ID (0x30). */
  revoke(issuer: string, target: string, spec: CertSpec = {}): WotCertification {
    return this.certify(issuer, target, { ...spec, type: 0x30 });
  }

  /** An ownertrust map from names: full 5, marginal 4, never 3, ultimate 6. */
  static ownertrust(web: Web, entries: Record<string, number>): Map<string, number> {
    return new Map(Object.entries(entries).map(([n, v]) => [web.fpr(n), v]));
  }

  async compute(opts: { roots?: string[]; ownertrust?: Record<string, number> } & Partial<Omit<TrustOptions, 'roots' | 'ownertrust'>> = {}): Promise<TrustNetwork> {
    const { roots = [], ownertrust = {}, ...rest } = opts;
    return TrustNetwork.compute(this.keys, { now: NOW, ...rest, roots: roots.map((r) => this.fpr(r)), ownertrust: Web.ownertrust(this, ownertrust) });
  }
}

export const FULL = 5;
export const MARGINAL = 4;
export const NEVER = 3;
