/**
 * A key as the original's tools let people name it: a key ID or fingerprint, read by
 * src/openpgp/fingerprint.ts (so a v6 key's key ID, its leading 16 digits, names it), or
 * any other tail of the fingerprint, `0x` allowed. Matching against primary keys and
 * subkeys alike.
 */
import { InputError } from '../errors.js';
import { asFingerprint, type KeySpec, parseHexTail, parseKeySpec, specMatches } from '../openpgp/fingerprint.js';

export interface KeyRef {
  /** The hex digits typed, canonical (upper case, no `0x`, no spaces). */
  readonly hex: string;
  /** Whether the reference names the key with fingerprint `fpr`. */
  matches(fpr: string): boolean;
}

/** A parsed reference, or undefined when `text` is not hex digits (at least `minDigits`, at most a v6 fingerprint's 64). */
export function parseKeyRef(text: string, minDigits = 1): KeyRef | undefined {
  let spec: KeySpec | undefined;
  try {
    spec = parseKeySpec(text);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
  }
  const hex = spec ? specHex(spec) : parseHexTail(text, 1);
  if (hex === undefined || hex.length < minDigits) return undefined;
  // A fingerprint's tail also names it, as the original's suffix match did.
  return { hex, matches: (fpr) => (spec !== undefined && specMatches(spec, fpr)) || asFingerprint(fpr).endsWith(hex) };
}

function specHex(spec: KeySpec): string {
  return spec.kind === 'fingerprint' ? spec.fpr : spec.kind === 'keyid' ? spec.keyId : spec.hex;
}

