/**
 * Canonical S-expressions (Rivest's draft, §6.1: `(3:rsa(1:n3:...))`), the form gpg-agent
 * exports secret keys in. A strict, bounded parser: canonical form only (no whitespace,
 * no advanced or base64 transport forms, no display hints), as gpg-agent writes it.
 * Not a general S-expression library; key semantics live in secret-key.ts.
 */
import { InputError } from '../errors.js';

/** An atom (its bytes) or a list. */
export type Sexp = Buffer | Sexp[];

/** Nesting gpg-agent never approaches; deeper input is refused rather than recursed into. */
const MAX_DEPTH = 16;

function malformed(detail: string, at: number): InputError {
  return new InputError('MS_AGENT_KEY_MALFORMED', `malformed S-expression from gpg-agent: ${detail} at offset ${at}`);
}

/**
 * Parses one canonical S-expression; bytes after its closing parenthesis are ignored
 * (the unwrapped key is padded to 8 bytes, RFC 3394 §2).
 * @throws InputError (MS_AGENT_KEY_MALFORMED)
 */
export function parseCanonicalSexp(bytes: Buffer): Sexp[] {
  let pos = 0;
  const atom = (): Buffer => {
    const start = pos;
    let len = 0;
    while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) {
      if (pos - start >= 9) throw malformed('atom length too long', start);
      len = len * 10 + (bytes[pos] - 0x30);
      pos++;
    }
    if (pos === start) throw malformed(`unexpected byte 0x${(bytes[pos] ?? 0).toString(16)}`, pos);
    if (bytes[start] === 0x30 && pos - start > 1) throw malformed('atom length with a leading zero', start);
    if (bytes[pos] !== 0x3a) throw malformed('atom length not followed by ":"', pos);
    pos++;
    if (pos + len > bytes.length) throw malformed(`atom of ${len} bytes runs past the end`, start);
    const v = bytes.subarray(pos, pos + len);
    pos += len;
    return v;
  };
  const list = (depth: number): Sexp[] => {
    if (depth > MAX_DEPTH) throw malformed('nested too deeply', pos);
    const open = pos;
    pos++; // "("
    const out: Sexp[] = [];
    for (;;) {
      if (pos >= bytes.length) throw malformed('unclosed list', open);
      const b = bytes[pos];
      if (b === 0x29) {
        pos++;
        return out;
      }
      out.push(b === 0x28 ? list(depth + 1) : atom());
    }
  };
  if (bytes[0] !== 0x28) throw malformed('does not start with "("', 0);
  return list(1);
}

/** The text of an atom, or undefined for a list. */
export function atomText(s: Sexp | undefined): string | undefined {
  return Buffer.isBuffer(s) ? s.toString('latin1') : undefined;
}

/** The sublist `(name …)` of `list`, searched one level deep. */
export function findList(list: Sexp[], name: string): Sexp[] | undefined {
  for (const item of list) if (Array.isArray(item) && atomText(item[0]) === name) return item;
  return undefined;
}

/** The atom value of the sublist `(name VALUE)` of `list`. */
export function findAtom(list: Sexp[], name: string): Buffer | undefined {
  const l = findList(list, name);
  return l && Buffer.isBuffer(l[1]) ? l[1] : undefined;
}
