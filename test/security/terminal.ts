/**
 * What an attacker puts in a user ID to reach the administrator's terminal, and the
 * checks that none of it arrives: no raw control character (ESC, the 8-bit CSI, BEL, CR,
 * DEL, bidi overrides…) in what a command prints, and no line a newline in a user ID
 * would start (a forged `ms:` log line).
 */
import assert from 'node:assert/strict';

/** The text a newline in a hostile user ID tries to start a log line with. */
export const FORGED = 'Identity certifier added: FORGED';

/**
 * A user ID with every kind of terminal control: SGR colours, an OSC window title ended by
 * BEL, a newline forging an `ms:` line, a CR rewriting the line, the 8-bit CSI (U+009B)
 * clearing the screen, DEL, a backslash, and a right-to-left override (U+202E … U+202C).
 */
export const HOSTILE_UID = `Mallory \x1b[31mRED\x1b[0m\x1b]0;pwned\x07\nms: ${FORGED}\r\u009b2J\x7f C:\\x1b \u202Egnp.exe\u202C <mallory@evil.example>`;

/** Only ASCII C0 controls (no backslash, nothing above U+007F): where gpg's --list-keys escapes exactly as we do. */
export const C0_UID = `Eve \x1b[1mbold\x1b[0m\x07\nms: ${FORGED}\r <eve@evil.example>`;

/** Anything that acts on a terminal or reorders a line (C0 but the newline that ends a line, DEL, C1, bidi controls, line separators). */
function isRawControl(cp: number): boolean {
  return (
    (cp < 0x20 && cp !== 0x0a) ||
    (cp >= 0x7f && cp <= 0x9f) ||
    cp === 0x061c ||
    cp === 0x200e ||
    cp === 0x200f ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069)
  );
}

export function assertNoRawControls(text: string, what: string): void {
  let index = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (isRawControl(cp)) {
      assert.fail(`${what} carries a raw U+${cp.toString(16).padStart(4, '0')} at ${index}: ${JSON.stringify(text.slice(Math.max(0, index - 40), index + 40))}`);
    }
    index += ch.length;
  }
}

/** No line of `text` is one that the hostile user ID's newline would have started. */
export function assertNoForgedLine(text: string, what: string): void {
  for (const line of text.split('\n')) {
    assert.ok(!line.startsWith(`ms: ${FORGED}`) && !line.startsWith(FORGED), `${what} has a forged line: ${JSON.stringify(line)}`);
  }
}

/** Both checks on a command's stdout and stderr. */
export function assertSafe(r: { stdout: string; stderr: string }, what: string): void {
  assertNoRawControls(r.stdout, `${what}: stdout`);
  assertNoRawControls(r.stderr, `${what}: stderr`);
  assertNoForgedLine(r.stdout, `${what}: stdout`);
  assertNoForgedLine(r.stderr, `${what}: stderr`);
}

/** A colon-listing field back to its text (gpg's \xNN and named escapes). */
export function unescapeColon(field: string): string {
  const named: Record<string, number> = { n: 10, r: 13, f: 12, v: 11, b: 8, '0': 0 };
  const bytes: number[] = [];
  const raw = Buffer.from(field, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && raw[i + 1] === 0x78) {
      bytes.push(Number.parseInt(raw.subarray(i + 2, i + 4).toString(), 16));
      i += 3;
    } else if (raw[i] === 0x5c && String.fromCharCode(raw[i + 1]) in named) {
      bytes.push(named[String.fromCharCode(raw[i + 1])]);
      i += 1;
    } else bytes.push(raw[i]);
  }
  return Buffer.from(bytes).toString('utf8');
}
