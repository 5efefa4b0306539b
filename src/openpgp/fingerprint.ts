/**
 * Fingerprints and key IDs, v4 and v6: the one place that knows their lengths, which half
 * of a fingerprint is the key ID, and what users may type to name a key.
 *
 * Inside the program a fingerprint is upper-case hex with no separators (40 digits for a v4
 * key, 64 for a v6 one, RFC 9580 §5.5.4) and a key ID is 16 upper-case hex digits. The
 * branded types record that a string has been through this module; formatting for people
 * (groups of four, `0x`) happens only at the edges.
 *
 * Key IDs: v4 takes the low 64 bits of the fingerprint, v6 the high 64. A short (8-digit) key
 * ID is the low 32 bits of the key ID, as gpg 2.4 prints and searches it (`keyid[1]`): for a
 * v4 key that is the fingerprint's last 8 digits, for a v6 key its digits 9 to 16.
 */
import { InputError } from '../errors.js';

declare const fingerprintBrand: unique symbol;
declare const keyIdBrand: unique symbol;

/** A primary or subkey fingerprint: 40 (v4) or 64 (v6) upper-case hex digits. */
export type Fingerprint = string & { readonly [fingerprintBrand]: true };
/** A 16-digit upper-case hex key ID. */
export type KeyId = string & { readonly [keyIdBrand]: true };

/** What a user's key reference names, once parsed. */
export type KeySpec =
  | { readonly kind: 'fingerprint'; readonly fpr: Fingerprint; readonly exact: boolean }
  | { readonly kind: 'keyid'; readonly keyId: KeyId; readonly exact: boolean }
  | { readonly kind: 'short'; readonly hex: string; readonly exact: boolean };

const V4_LEN = 40;
const V6_LEN = 64;
const HEX = /^[0-9A-F]*$/;

/** The key version a fingerprint belongs to, from its length. */
export function fingerprintVersion(fpr: string): 4 | 6 {
  return fpr.length === V6_LEN ? 6 : 4;
}

/**
 * The key ID of a fingerprint: the low 64 bits of a v4 one, the high 64 of a v6 one.
 * Accepts the internal form; lower case is tolerated.
 */
export function keyIdOf(fpr: string): KeyId {
  const id = fpr.length === V6_LEN ? fpr.slice(0, 16) : fpr.slice(-16);
  return (HEX.test(id) ? id : id.toUpperCase()) as KeyId;
}

/** The short (8-digit) key ID of a fingerprint: the low 32 bits of its key ID (gpg's `keyid[1]`). */
export function shortIdOf(fpr: string): string {
  return keyIdOf(fpr).slice(8);
}

/** Strips what people type around hex: spaces, a `0x` prefix, a trailing `!`; upper-cases. */
function clean(text: string): { hex: string; exact: boolean } {
  let s = text.replace(/\s+/g, '');
  const exact = s.endsWith('!');
  if (exact) s = s.slice(0, -1);
  if (/^0x/i.test(s)) s = s.slice(2);
  return { hex: s.toUpperCase(), exact };
}

/**
 * Hex digits as users type them (`0x`, spaces, any case, a trailing `!`), upper-cased: for
 * messages about something that is not a key reference.
 */
export function normalizeHex(text: string): string {
  return clean(text).hex;
}

/**
 * A fingerprint's tail as users type it, of any length from `min` to 64 digits (the original's
 * suffix match: a 12-digit tail names a key as well as its key ID does); undefined when it is
 * not hex or not that long.
 */
export function parseHexTail(text: string, min = 8): string | undefined {
  const { hex } = clean(text);
  return hex.length >= min && hex.length <= V6_LEN && HEX.test(hex) ? hex : undefined;
}

/**
 * Parses a key reference as users type it: 8, 16, 40 or 64 hex digits, any case, with an
 * optional `0x` prefix, spaces (groups of four) and a trailing `!` (gpg's "this exact key").
 * @throws InputError (MS_PGP_KEYID) naming what is wrong.
 */
export function parseKeySpec(text: string): KeySpec {
  const { hex, exact } = clean(text);
  const bad = (why: string): never => {
    throw new InputError('MS_PGP_KEYID', `not a key ID or fingerprint: ${JSON.stringify(text)}: ${why}`, {
      hints: ['give 8 or 16 hex digits (a key ID) or 40 or 64 (a v4 or v6 fingerprint), optionally with 0x'],
      data: { id: text },
    });
  };
  if (hex === '') bad('it is empty');
  if (!HEX.test(hex)) bad(`${JSON.stringify(hex.match(/[^0-9A-F]/)![0])} is not a hex digit`);
  switch (hex.length) {
    case 8:
      return { kind: 'short', hex, exact };
    case 16:
      return { kind: 'keyid', keyId: hex as KeyId, exact };
    case V4_LEN:
    case V6_LEN:
      return { kind: 'fingerprint', fpr: hex as Fingerprint, exact };
    default:
      return bad(`${hex.length} hex digits (a key ID has 8 or 16, a fingerprint 40 or 64)`);
  }
}

/**
 * Parses a full fingerprint as users type it (spaces, `0x`, any case).
 * @throws InputError (MS_PGP_FINGERPRINT) when it is not 40 or 64 hex digits.
 */
export function parseFingerprint(text: string): Fingerprint {
  const { hex } = clean(text);
  if (!HEX.test(hex) || (hex.length !== V4_LEN && hex.length !== V6_LEN)) {
    throw new InputError('MS_PGP_FINGERPRINT', `not a fingerprint: ${JSON.stringify(text)}`, {
      hints: ['give 40 hex digits (v4 key) or 64 (v6 key)'],
      data: { fpr: text },
    });
  }
  return hex as Fingerprint;
}

/** Whether `text` is a full fingerprint in the internal form (upper case, 40 or 64 digits). */
export function isFingerprint(text: string): text is Fingerprint {
  return (text.length === V4_LEN || text.length === V6_LEN) && HEX.test(text);
}

/** A fingerprint from a trusted internal source (a parsed key packet, a database row), normalised. */
export function asFingerprint(hex: string): Fingerprint {
  return (HEX.test(hex) ? hex : hex.toUpperCase()) as Fingerprint;
}

/**
 * Whether a parsed key reference names the key with fingerprint `fpr`: a fingerprint exactly,
 * a 16-digit key ID as the key's ID for its version, an 8-digit short ID as the low half of it.
 */
export function specMatches(spec: KeySpec, fpr: string): boolean {
  const f = asFingerprint(fpr);
  switch (spec.kind) {
    case 'fingerprint':
      return f === spec.fpr;
    case 'keyid':
      return keyIdOf(f) === spec.keyId;
    case 'short':
      return shortIdOf(f) === spec.hex;
  }
}

/** `specMatches` for a string: whether `id` (any typed form) names the key `fpr`. */
export function idMatches(id: string, fpr: string): boolean {
  return specMatches(parseKeySpec(id), fpr);
}

/** For people: groups of four hex digits separated by spaces (gpg's `--fingerprint` look). */
export function formatFingerprint(fpr: string): string {
  return asFingerprint(fpr).replace(/(.{4})(?=.)/g, '$1 ');
}
