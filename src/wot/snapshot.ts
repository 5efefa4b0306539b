/**
 * The engine's input (key, user ID and certification summaries) as compact bytes, so a
 * computed web can be stored in a SnapshotStore and read back without parsing or
 * evaluating a single packet. JSON of arrays with a fingerprint table: a fraction of the
 * size of the objects' own JSON, and quick to parse.
 */
import type { WotCertification, WotKey, WotUserId } from './types.js';

/** Bump when the encoding or the meaning of a summary changes: old snapshots then never match. */
export const SNAPSHOT_FORMAT = 'wot-summaries-1';

type EncodedCert = [
  issuer: number,
  issuerKeyId: string,
  type: number,
  created: number,
  expires: number | null,
  trust: [number, number] | null,
  regexes: string[] | 0,
  flags: number,
  hashAlgorithm: number,
  outcome: WotCertification['outcome'],
  policyReason: string | null,
];
type EncodedUid = [text: string, attribute: 0 | 1, status: WotUserId['status'], expires: number | null, revokedAt: number | null, certs: EncodedCert[]];
type EncodedKey = [fpr: number, keyId: string, created: number, status: WotKey['status'], expires: number | null, revocation: [number, string | null] | null, uids: EncodedUid[]];
interface Encoded {
  format: string;
  fprs: string[];
  keys: EncodedKey[];
}

const STATUSES = new Set(['valid', 'expired', 'revoked', 'invalid']);
const OUTCOMES = new Set<unknown>(['good', 'bad', 'no-key', 'unsupported', 'rejected', 'unchecked']);
const EXPORTABLE = 1;
const REVOCABLE = 2;

export function encodeSummaries(keys: readonly WotKey[]): Buffer {
  const fprs: string[] = [];
  const index = new Map<string, number>();
  const fprIndex = (f: string | undefined) => {
    if (f === undefined) return -1;
    let i = index.get(f);
    if (i === undefined) {
      i = fprs.length;
      fprs.push(f);
      index.set(f, i);
    }
    return i;
  };
  const cert = (c: WotCertification): EncodedCert => [
    fprIndex(c.issuer),
    c.issuerKeyId,
    c.type,
    c.created,
    c.expires ?? null,
    c.trust ? [c.trust.level, c.trust.amount] : null,
    c.regexes.length > 0 ? c.regexes : 0,
    (c.exportable ? EXPORTABLE : 0) | (c.revocable ? REVOCABLE : 0),
    c.hashAlgorithm,
    c.outcome,
    c.policyReason ?? null,
  ];
  const encoded: Encoded = {
    format: SNAPSHOT_FORMAT,
    fprs,
    keys: keys.map((k) => [
      fprIndex(k.fpr),
      k.keyId,
      k.created,
      k.status,
      k.expires ?? null,
      k.revocation ? [k.revocation.time, k.revocation.reason ?? null] : null,
      k.userIds.map((u) => [u.text, u.attribute ? 1 : 0, u.status, u.expires ?? null, u.revokedAt ?? null, u.certifications.map(cert)]),
    ]),
  };
  return Buffer.from(JSON.stringify(encoded));
}

const orUndefined = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

/** @throws Error when the bytes are not a snapshot of this format (callers then recompute). */
export function decodeSummaries(bytes: Buffer): WotKey[] {
  const encoded = JSON.parse(bytes.toString('utf8')) as Encoded;
  if (encoded.format !== SNAPSHOT_FORMAT) throw new Error(`snapshot format ${String(encoded.format)}, expected ${SNAPSHOT_FORMAT}`);
  const { fprs } = encoded;
  // Damage that still parses as JSON must not pass for a status or an outcome.
  const bad = (what: string) => new Error(`snapshot: ${what}`);
  const status = (v: unknown) => {
    if (!STATUSES.has(v as string)) throw bad(`status ${String(v)}`);
    return v as WotKey['status'];
  };
  const outcome = (v: unknown) => {
    if (!OUTCOMES.has(v)) throw bad(`outcome ${String(v)}`);
    return v as WotCertification['outcome'];
  };
  if (!Array.isArray(fprs) || !Array.isArray(encoded.keys)) throw bad('no key table');
  const cert = (c: EncodedCert): WotCertification => ({
    issuer: c[0] < 0 ? undefined : fprs[c[0]],
    issuerKeyId: c[1],
    type: c[2],
    created: c[3],
    expires: orUndefined(c[4]),
    trust: c[5] ? { level: c[5][0], amount: c[5][1] } : undefined,
    regexes: c[6] === 0 ? [] : c[6],
    exportable: (c[7] & EXPORTABLE) !== 0,
    revocable: (c[7] & REVOCABLE) !== 0,
    hashAlgorithm: c[8],
    outcome: outcome(c[9]),
    policyReason: orUndefined(c[10]),
  });
  return encoded.keys.map((k) => ({
    fpr: fprs[k[0]],
    keyId: k[1],
    created: k[2],
    status: status(k[3]),
    expires: orUndefined(k[4]),
    revocation: k[5] ? { time: k[5][0], reason: orUndefined(k[5][1]) } : undefined,
    userIds: k[6].map((u) => ({
      text: u[0],
      attribute: u[1] === 1,
      status: status(u[2]),
      expires: orUndefined(u[3]),
      revokedAt: orUndefined(u[4]),
      certifications: u[5].map(cert),
    })),
  }));
}
