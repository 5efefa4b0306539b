/**
 * When a computed result stops being valid: the one definition, shared by the trust engine's
 * snapshots (src/wot, src/gnupg) and the authentication store's precomputed bindings.
 *
 * Evaluation (evaluate.ts, and the trust engine after it) depends on the reference time only
 * through comparisons with times found in the certificates, each of which flips at one
 * second, its switch point:
 * - key creation: a key created in the future cannot sign (`created > now`): flips at `created`;
 * - signature expiry, including certifications and user ID self-signatures (`expiry > now`
 *   is valid): flips at `expiry`;
 * - key and subkey expiry (`expiry < now` is expired, as gpg: a key is still valid during its
 *   expiry second): flips at `expiry + 1`.
 * A signature's creation time is never compared with the reference time (a future-dated
 * signature counts, as in gpg), so it is no switch point. Between two consecutive switch
 * points every comparison comes out the same, so a result computed at `now` holds for every
 * reference time from the last switch point at or before `now` up to, not including, the
 * next one. Whoever compares another time with the reference time must add it here.
 */
import type { UnixTime } from '../clock.js';
import type { Cert } from '../openpgp/cert.js';
import type { Signature } from '../openpgp/signature.js';

/** Reference times strictly between `after` and `before` give the same evaluation. */
export interface TimeWindow {
  /** Exclusive; -Infinity when no switch point is at or before the reference time. */
  after: number;
  /** Exclusive: the first switch point after the reference time; Infinity when there is none. */
  before: number;
}

/** How a store keeps a window's ends: Unix times are never negative nor beyond 2^53, so -1 and 2^53 - 1 stand for the unbounded ones. */
export function storedTime(t: number): number {
  return t === Number.NEGATIVE_INFINITY ? -1 : t === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : t;
}

/** A window's end as `storedTime` kept it. */
export function loadedTime(t: number): number {
  return t === -1 ? Number.NEGATIVE_INFINITY : t === Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : t;
}

/** The window of reference times around `now` that evaluate these certificates as `now` does. */
export function timeWindow(certs: Iterable<Cert>, now: UnixTime): TimeWindow {
  let after = Number.NEGATIVE_INFINITY;
  let before = Number.POSITIVE_INFINITY;
  const flipsAt = (t: number) => {
    if (t <= now) {
      if (t - 1 > after) after = t - 1;
    } else if (t < before) before = t;
  };
  const seeSig = (sig: Signature | undefined, keyCreated: number) => {
    if (!sig) return;
    if (sig.expiresAfter) flipsAt(sig.created + sig.expiresAfter);
    if (sig.keyExpiresAfter) flipsAt(keyCreated + sig.keyExpiresAfter + 1);
  };
  for (const cert of certs) {
    const created = cert.primary.created;
    flipsAt(created);
    for (const e of cert.directSigs) seeSig(e.sig, created);
    for (const u of cert.users) for (const e of u.signatures) seeSig(e.sig, created);
    for (const s of cert.subkeys) {
      flipsAt(s.key.created);
      for (const e of s.signatures) seeSig(e.sig, s.key.created);
    }
  }
  return { after, before };
}

/** The first reference time after `now` at which the evaluation may differ; null for never. */
export function nextSwitch(certs: Iterable<Cert>, now: UnixTime): UnixTime | null {
  const { before } = timeWindow(certs, now);
  return Number.isFinite(before) ? before : null;
}
