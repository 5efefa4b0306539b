/**
 * An in-memory keyring: certificates indexed by primary fingerprint and key ID, and
 * subkey IDs pointing at their primary. Adding a certificate already present merges it.
 * Every certificate held is canonical (src/openpgp/merge.ts): duplicated user IDs or
 * subkeys are collapsed on the way in, so no reader can see a revocation on one copy and
 * a binding on another.
 */
import type { Cert } from '../openpgp/cert.js';
import { canonicalCert, mergeCerts } from '../openpgp/merge.js';

export class Keyring {
  private readonly byFpr = new Map<string, Cert>();
  private readonly byKeyId = new Map<string, Cert[]>();
  private readonly bySubkeyId = new Map<string, Cert[]>();

  constructor(certs: Iterable<Cert> = []) {
    for (const c of certs) this.add(c);
  }

  /** Adds a certificate, merging it into a copy already held; returns the stored one (canonical). */
  add(given: Cert): Cert {
    const existing = this.byFpr.get(given.primary.fpr);
    if (existing) {
      // mergeCerts collapses duplicates of both inputs.
      const merged = mergeCerts(existing, given);
      this.byFpr.set(given.primary.fpr, merged);
      this.reindex(existing, merged);
      return merged;
    }
    const cert = canonicalCert(given);
    this.byFpr.set(cert.primary.fpr, cert);
    push(this.byKeyId, cert.primary.keyId, cert);
    for (const s of cert.subkeys) push(this.bySubkeyId, s.key.keyId, cert);
    return cert;
  }

  private reindex(old: Cert, merged: Cert): void {
    const swap = (map: Map<string, Cert[]>, id: string) => {
      const list = map.get(id);
      if (list) map.set(id, list.map((c) => (c === old ? merged : c)));
    };
    swap(this.byKeyId, merged.primary.keyId);
    for (const s of old.subkeys) swap(this.bySubkeyId, s.key.keyId);
    for (const s of merged.subkeys) {
      const list = this.bySubkeyId.get(s.key.keyId) ?? [];
      if (!list.includes(merged)) push(this.bySubkeyId, s.key.keyId, merged);
    }
  }

  get(fpr: string): Cert | undefined {
    return this.byFpr.get(fpr.toUpperCase());
  }

  /** Certificates whose primary key has this 16-hex-digit key ID. */
  byPrimaryKeyId(keyId: string): Cert[] {
    return this.byKeyId.get(keyId.toUpperCase()) ?? [];
  }

  /** Certificates with a primary key or subkey of this key ID. */
  byAnyKeyId(keyId: string): Cert[] {
    const id = keyId.toUpperCase();
    const out = [...(this.byKeyId.get(id) ?? [])];
    for (const c of this.bySubkeyId.get(id) ?? []) if (!out.includes(c)) out.push(c);
    return out;
  }

  /**
   * The primary keys that could have issued a signature: by issuer fingerprint when
   * the signature names one, else every key with a matching key ID.
   */
  issuerCandidates(fingerprints: string[], keyIds: string[]): Cert[] {
    for (const f of fingerprints) {
      const c = this.byFpr.get(f);
      if (c) return [c];
    }
    if (fingerprints.length > 0) return [];
    const out: Cert[] = [];
    for (const id of keyIds) for (const c of this.byPrimaryKeyId(id)) if (!out.includes(c)) out.push(c);
    return out;
  }

  get size(): number {
    return this.byFpr.size;
  }

  *[Symbol.iterator](): Iterator<Cert> {
    yield* this.byFpr.values();
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
