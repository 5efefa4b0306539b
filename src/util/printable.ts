/**
 * Text for a terminal. User IDs, revocation reasons and signature regexes come from
 * certificates, so anyone can choose them: raw, a control character in them recolours,
 * retitles or rewrites the administrator's terminal (ESC, the 8-bit CSI U+009B), forges
 * a log line (newline, CR) or reorders what follows on the line (bidi overrides such as
 * U+202E). This is the one place that decides how such characters are written:
 *
 * - `printable` for certificate-derived text in human-readable output: the text
 *   unambiguous, backslash escaped too;
 * - `quoted` where that text is shown in double quotes (it replaces JSON.stringify,
 *   which leaves C1 controls and bidi overrides raw);
 * - `withoutControls` for whole messages at the sinks (the log, error messages): only the
 *   unsafe characters, so messages keep their wording;
 * - `colonEscape` for gpg's colon listings, as gpg escapes them, with the unsafe
 *   characters as their UTF-8 bytes in the listing's own `\xNN` form.
 *
 * Escapes follow gpg's `--list-keys`: `\n`, `\r`, `\f`, `\v`, `\b`, `\0`, else `\xNN` for
 * C0 controls and DEL; `\u{…}` for the unsafe characters above U+007F.
 */

/** Unsafe: C0 controls, DEL, C1 controls, ALM, LRM/RLM, line/paragraph separators, LRE…RLO, LRI…PDI, lone surrogates. */
const UNSAFE = '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff';
const UNSAFE_RE = new RegExp(`[${UNSAFE}]`, 'gu');
const UNSAFE_OR_BACKSLASH_RE = new RegExp(`[${UNSAFE}\\\\]`, 'gu');
const UNSAFE_OR_QUOTE_RE = new RegExp(`[${UNSAFE}\\\\"]`, 'gu');
const UNSAFE_CHAR_RE = new RegExp(`^[${UNSAFE}]$`, 'u');

/** gpg's names for some C0 controls, by code point: NUL, BS, LF, VT, FF, CR. */
const NAMED: Record<number, string> = { 0: '\\0', 8: '\\b', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };

function escapeChar(ch: string): string {
  if (ch === '\\') return '\\\\';
  if (ch === '"') return '\\"';
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x80) return NAMED[cp] ?? `\\x${cp.toString(16).padStart(2, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/** Certificate-derived text for people: unsafe characters and the backslash escaped. */
export function printable(text: string): string {
  return text.replace(UNSAFE_OR_BACKSLASH_RE, escapeChar);
}

/** `"text"` with printable's escapes and `\"`; for ordinary text the same as JSON.stringify. */
export function quoted(text: string): string {
  return `"${text.replace(UNSAFE_OR_QUOTE_RE, escapeChar)}"`;
}

/** A message for a terminal or a log: unsafe characters escaped (newlines too: one message, one line), the rest as it is. */
export function withoutControls(text: string): string {
  return text.replace(UNSAFE_RE, escapeChar);
}

/**
 * GnuPG's escaping of a colon-listing field (es_write_sanitized with ":" as delimiter):
 * controls, DEL, `:` and `\` as `\xNN` (`\n` and friends named). The other unsafe characters
 * (C1 controls, bidi overrides), which gpg passes through under a UTF-8 locale, are written
 * as their UTF-8 bytes in the same `\xNN` form, as gpg writes them under any other locale,
 * so that unescaping the field still gives the exact bytes.
 */
export function colonEscape(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === 0x3a || cp === 0x5c) out += `\\x${cp.toString(16)}`;
    else if (!UNSAFE_CHAR_RE.test(ch)) out += ch;
    else if (cp < 0x80) out += escapeChar(ch);
    else for (const b of Buffer.from(ch, 'utf8')) out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}
