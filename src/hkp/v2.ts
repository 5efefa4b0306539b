/**
 * The read side of HKP v2 (draft-ietf-openpgp-hkp-01: `/pks/v2/certs/by-vfingerprint|by-keyid|
 * by-identity`, `/pks/v2/index/…`, discovery by OPTIONS, submission by `POST /pks/v2/certs`)
 * and Hagrid's VKS v1 (`/vks/v1/by-fingerprint|by-keyid|by-email`, `POST /vks/v1/upload`), so
 * clients written for Hockeypuck or keys.openpgp.org work unchanged. No e-mail verification:
 * `canonical`, `prefixlog` and `sendtoken` answer 501.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { StoredCert } from '../store/types.js';
import { badQuery, notFound, unsupported } from './errors.js';
import { findByIdentity, findByKey } from './find.js';
import { sendJson } from './respond.js';
import type { SubmitReport } from './service.js';
import { sendArmored, sendBinary } from './stream.js';
import type { V1Context } from './v1.js';
import { addressOf } from '../openpgp/user-id.js';

const BINARY = 'application/pgp-keys; armor=no';

/** Categories under /pks/v2/ and whether this server has them (OPTIONS discovery). */
export const V2_CATEGORIES: Readonly<Record<string, boolean>> = { certs: true, index: true, canonical: false, prefixlog: false, sendtoken: false };

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw badQuery('malformed %-escape in the path');
  }
}

/** Looks up `<lookup>/<id>` as the v2 certs and index paths name it. */
async function v2Find(ctx: V1Context, lookup: string, id: string): Promise<StoredCert[]> {
  const store = ctx.ks.store;
  switch (lookup) {
    case 'by-vfingerprint': {
      const m = /^(?:04([0-9A-Fa-f]{40})|06([0-9A-Fa-f]{64}))$/.exec(id);
      if (!m) throw badQuery('a versioned fingerprint is 04 and 40 hex digits, or 06 and 64');
      return findByKey(store, { kind: 'fingerprint', hex: (m[1] ?? m[2]).toUpperCase() }, { v4Only: false, limit: ctx.maxResults });
    }
    case 'by-keyid':
      if (!/^[0-9A-Fa-f]{16}$/.test(id)) throw badQuery('a key ID is 16 hex digits');
      // The draft: by-keyid never returns certificates newer than v4.
      return findByKey(store, { kind: 'keyid', hex: id.toUpperCase() }, { v4Only: true, limit: ctx.maxResults });
    case 'by-identity': {
      const identity = decodeSegment(id);
      if (identity === '' || identity.length > 1024) throw badQuery('an identity is 1 to 1024 characters');
      return findByIdentity(store, identity, ctx.maxResults);
    }
    default:
      throw notFound(`no such lookup ${JSON.stringify(lookup.slice(0, 40))}`);
  }
}

const rfc3339 = (t: number | undefined) => (t === undefined ? undefined : new Date(t * 1000).toISOString().replace(/\.000Z$/, 'Z'));

/** Answers GET/HEAD under /pks/v2/. */
export async function v2(ctx: V1Context, res: ServerResponse, path: string): Promise<void> {
  const parts = path.split('/').slice(3); // '', 'pks', 'v2', category, …
  const category = parts[0] ?? '';
  if (!(category in V2_CATEGORIES)) throw notFound(`no such category ${JSON.stringify(category.slice(0, 40))}`);
  if (!V2_CATEGORIES[category]) throw unsupported(`${category} is not offered here: this server does not verify identities`);
  if (category === 'certs') {
    if (parts.length !== 3) throw notFound('use /pks/v2/certs/by-vfingerprint|by-keyid|by-identity/<id>');
    const found = await v2Find(ctx, parts[1], parts[2]);
    if (found.length === 0) throw notFound('no certificate found');
    await sendBinary(
      res,
      { 'content-type': BINARY, 'cache-control': 'no-cache' },
      found.map((c) => c.bytes),
    );
    return;
  }
  // index/<lookup>/<id>, or index/<id> with the kind guessed from its form.
  let lookup: string;
  let id: string;
  if (parts.length === 3) [lookup, id] = [parts[1], parts[2]];
  else if (parts.length === 2) {
    id = parts[1];
    lookup = /^(04[0-9A-Fa-f]{40}|06[0-9A-Fa-f]{64})$/.test(id) ? 'by-vfingerprint' : /^[0-9A-Fa-f]{16}$/.test(id) ? 'by-keyid' : 'by-identity';
  } else throw notFound('use /pks/v2/index/<id>');
  const found = await v2Find(ctx, lookup, id);
  if (found.length === 0) throw notFound('no certificate found');
  const summaries = await ctx.summaries.of(found, ctx.now());
  sendJson(
    res,
    200,
    summaries.map((s) => ({
      version: s.version,
      fingerprint: s.fpr,
      algorithm: s.algorithm,
      bits: s.bits,
      creationTime: rfc3339(s.created),
      expirationTime: rfc3339(s.expires),
      revoked: s.revoked,
      expired: s.expired,
      userIDs: s.userIds.map((u) => ({
        uidString: u.text,
        creationTime: rfc3339(u.created),
        expirationTime: rfc3339(u.expires),
        revoked: u.revoked,
        // Nothing about an identity is verified here: the lowest confidence the draft allows.
        confidence: 0,
      })),
      subkeys: s.subkeys.map((k) => ({ fingerprint: k.fpr, algorithm: k.algorithm, bits: k.bits, creationTime: rfc3339(k.created), expirationTime: rfc3339(k.expires), revoked: k.revoked })),
    })),
    { 'cache-control': 'no-cache' },
  );
}

/** Answers GET/HEAD under /vks/v1/: armored, `application/pgp-keys`, as Hagrid. */
export async function vks(ctx: V1Context, res: ServerResponse, path: string): Promise<void> {
  const parts = path.split('/').slice(3); // '', 'vks', 'v1', lookup, id
  if (parts.length !== 2) throw notFound('use /vks/v1/by-fingerprint|by-keyid|by-email/<id>');
  const [lookup, raw] = parts;
  const store = ctx.ks.store;
  let found: StoredCert[];
  if (lookup === 'by-fingerprint') {
    if (!/^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(raw)) throw badQuery('a fingerprint is 40 or 64 hex digits, without 0x');
    found = await findByKey(store, { kind: 'fingerprint', hex: raw.toUpperCase() }, { v4Only: false, limit: ctx.maxResults });
  } else if (lookup === 'by-keyid') {
    if (!/^[0-9A-Fa-f]{16}$/.test(raw)) throw badQuery('a key ID is 16 hex digits, without 0x');
    found = await findByKey(store, { kind: 'keyid', hex: raw.toUpperCase() }, { v4Only: false, limit: ctx.maxResults });
  } else if (lookup === 'by-email') {
    const email = decodeSegment(raw);
    if (!/^[^<>\s@]+@[^<>\s@]+$/.test(email) || email.length > 512) throw badQuery('not an e-mail address');
    found = await store.certs.byAddress(email, ctx.maxResults);
  } else throw notFound(`no such lookup ${JSON.stringify(lookup.slice(0, 40))}`);
  if (found.length === 0) throw notFound('No key found');
  await sendArmored(
    res,
    { 'content-type': 'application/pgp-keys', 'cache-control': 'no-cache' },
    found.map((c) => c.bytes),
  );
}

/** The VKS upload answer (Hagrid's shape): the first certificate's fingerprint, each address `published`. */
export function vksUploadAnswer(report: SubmitReport): Record<string, unknown> {
  const first = report.certs[0];
  const status: Record<string, string> = {};
  for (const u of first?.userIds ?? []) {
    const a = addressOf(u);
    if (a) status[a] = first.status === 'blocked' ? 'unpublished' : 'published';
  }
  return { key_fpr: first?.fpr ?? '', status, token: randomBytes(16).toString('hex') };
}

/** The keytext of a VKS upload: JSON `{"keytext": "…"}`. */
export function vksKeytext(body: Buffer): Buffer {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw badQuery('the body is not JSON');
  }
  const keytext = (value as { keytext?: unknown } | null)?.keytext;
  if (typeof keytext !== 'string' || keytext === '') throw badQuery('the JSON has no "keytext" string');
  return Buffer.from(keytext, 'utf8');
}
