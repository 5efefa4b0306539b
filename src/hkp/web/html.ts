/**
 * HTML that is escaped by default: the `html` tag escapes every interpolated value unless it
 * is already `SafeHtml` (made by this tag, or by `raw` for constant markup), so user IDs and
 * queries, which anyone can choose, reach the page only as text. `showText` goes further for
 * text from certificates: control, format (bidi overrides, zero-width) and unassigned
 * characters are shown as visible `U+XXXX` marks, so nothing invisible reorders or hides text.
 */

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Markup known to be safe: only this module makes it. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Escapes the five characters that are special in HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** What the `html` tag accepts: text (escaped), safe markup, lists of either, and nothing. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false || value === true) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** A template whose interpolations are escaped (arrays joined, booleans and nullish left out). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

/** Constant markup from our own code (never from input). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * Characters shown as marks rather than drawn: controls (C0, C1, DEL), format characters
 * (bidi embeddings, overrides and isolates, zero-width joiners and spaces, the BOM), private
 * use, unassigned and surrogate code points, line and paragraph separators, spaces other than
 * U+0020 (they pass for a plain space), and the Hangul and Braille fillers that draw nothing.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000\u115F\u1160\u3164\uFFA0\u2800]/gu;

/** `U+XXXX` of a code point (at least four hex digits). */
export function codePointLabel(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Whether `text` has a character that `showText` would mark. */
export function hasHiddenCharacters(text: string): boolean {
  HIDDEN.lastIndex = 0;
  return HIDDEN.test(text);
}

/**
 * Text from a certificate, escaped, with each hidden character replaced by a visible mark
 * (`<span class="cp" title="…">U+202E</span>`), isolated in `<bdi>` so right-to-left text
 * in it cannot reorder the page around it.
 */
export function showText(text: string): SafeHtml {
  let out = '';
  let last = 0;
  HIDDEN.lastIndex = 0;
  for (let m = HIDDEN.exec(text); m !== null; m = HIDDEN.exec(text)) {
    out += escapeHtml(text.slice(last, m.index));
    const cp = m[0].codePointAt(0)!;
    out += `<span class="cp" title="hidden character ${codePointLabel(cp)}">${codePointLabel(cp)}</span>`;
    last = m.index + m[0].length;
  }
  out += escapeHtml(text.slice(last));
  return new SafeHtml(`<bdi>${out}</bdi>`);
}

/**
 * Text from a certificate or a request for places that take no markup (a `<title>`, an
 * attribute): escaped, each hidden character written as `U+XXXX`.
 */
export function plainText(text: string): SafeHtml {
  HIDDEN.lastIndex = 0;
  return new SafeHtml(escapeHtml(text.replace(HIDDEN, (c) => `[${codePointLabel(c.codePointAt(0)!)}]`)));
}

/** Scripts whose letters pass for one another (Latin a, Cyrillic а, Greek α, …). */
const CONFUSABLE_SCRIPTS: ReadonlyArray<[string, RegExp]> = [
  ['Latin', /\p{Script=Latin}/u],
  ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Greek', /\p{Script=Greek}/u],
  ['Armenian', /\p{Script=Armenian}/u],
  ['Cherokee', /\p{Script=Cherokee}/u],
  ['Coptic', /\p{Script=Coptic}/u],
];

/**
 * The confusable scripts mixed within one word of `text` (letters of Latin and Cyrillic in
 * `pаypal`, say), in a stable order; empty when every word keeps to one script. Words in
 * different scripts side by side (a Greek name and a Latin address) are not a mix.
 */
export function mixedScripts(text: string): string[] {
  const found = new Set<string>();
  for (const word of text.split(/[^\p{L}\p{M}]+/u)) {
    if (word === '') continue;
    const inWord = CONFUSABLE_SCRIPTS.filter(([, re]) => re.test(word)).map(([name]) => name);
    if (inWord.length > 1) for (const s of inWord) found.add(s);
  }
  return CONFUSABLE_SCRIPTS.map(([name]) => name).filter((n) => found.has(n));
}

/** Percent-encodes a query-string value (for links we build). */
export function queryValue(text: string): string {
  return encodeURIComponent(text);
}
