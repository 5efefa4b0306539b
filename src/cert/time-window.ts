/**
 * The span of reference times over which evaluating certificates gives the same answer.
 * Evaluation (evaluate.ts, and the engine after it) depends on the reference time only
 * through comparisons with times found in the certificates: key creation (a key created
 * in the future cannot sign), signature expiry and key expiry. A signature's creation
 * time is never compared with the reference time (a future-dated signature counts, as
 * in gpg), so it does not bound the window. Between two consecutive such times every
 * comparison comes out the same, so a result computed at `now` holds for any time in
 * that open interval: what lets a computed web of trust be reused instead of recomputed.
 * Whoever compares another time with the reference time must add it here.
 */
import type { Cert } from '../openpgp/cert.js';
import type { Signature } from '../openpgp/signature.js';

/** Reference times strictly between `after` and `before` give the same evaluation as `now`. */
export interface TimeWindow {
  /** Exclusive; -Infinity when no time in the data is earlier. */
  after: number;
  /** Exclusive; Infinity when no time in the data is later. */
  before: number;
}

/**
 * The window around `now` in which no time of these certificates falls; undefined when
 * `now` is itself one of those times (then only `now` is known to give the same answer).
 */
export function timeWindow(certs: Iterable<Cert>, now: number): TimeWindow | undefined {
  let after = Number.NEGATIVE_INFINITY;
  let before = Number.POSITIVE_INFINITY;
  let exact = false;
  const see = (t: number) => {
    if (t < now) {
      if (t > after) after = t;
    } else if (t > now) {
      if (t < before) before = t;
    } else exact = true;
  };
  const seeSig = (sig: Signature | undefined, keyCreated: number) => {
    if (!sig) return;
    if (sig.expiresAfter) see(sig.created + sig.expiresAfter);
    if (sig.keyExpiresAfter) see(keyCreated + sig.keyExpiresAfter);
  };
  for (const cert of certs) {
    const created = cert.primary.created;
    see(created);
    for (const e of cert.directSigs) seeSig(e.sig, created);
    for (const u of cert.users) for (const e of u.signatures) seeSig(e.sig, created);
    for (const s of cert.subkeys) {
      see(s.key.created);
      for (const e of s.signatures) seeSig(e.sig, s.key.created);
    }
  }
  return exact ? undefined : { after, before };
}
