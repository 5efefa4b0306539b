/**
 * The HKP machine-readable index (`op=index&options=mr`), as GnuPG's KEYSERVER
 * document and SKS 1.1.6 define it: `info:`, `pub:` and `uid:` lines, parsed;
 * the flags in it are the server's hints, never verified facts. Also the writer (formatMrIndex),
 * for our keyserver (src/hkp/), so both sides share one definition of the format.
 */
import { InputError } from '../errors.js';

export interface IndexFlags {
  revoked: boolean;
  disabled: boolean;
  expired: boolean;
}

export interface IndexUserId {
  /** The user ID bytes after %-decoding; compare these for an exact match. */
  bytes: Buffer;
  /** The same as UTF-8 text (lossy for invalid bytes). */
  text: string;
  created?: number;
  expires?: number;
  flags: IndexFlags;
}

export interface IndexKey {
  /** The key's identifier as the server gave it, uppercase hex without `0x`. */
  id: string;
  /** What `id` is: a fingerprint (40 or 64 hex), a long (16) or a short (8) key ID. */
  idKind: 'fingerprint' | 'keyid' | 'short-keyid';
  algorithm?: number;
  bits?: number;
  created?: number;
  expires?: number;
  flags: IndexFlags;
  userIds: IndexUserId[];
}

export interface MrIndex {
  /** From the optional `info:` line. */
  version?: number;
  count?: number;
  keys: IndexKey[];
  /** Lines that could not be used, each naming its line number. */
  problems: InputError[];
}

/** Decodes `%XX` escapes into bytes; other characters are taken as bytes (the input is read as latin1). */
function unescapeBytes(field: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < field.length; i++) {
    if (field[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(field.slice(i + 1, i + 3))) {
      out.push(Number.parseInt(field.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(field.charCodeAt(i) & 0xff);
  }
  return Buffer.from(out);
}

function optionalInt(field: string | undefined): number | undefined {
  if (field === undefined || field === '') return undefined;
  return /^\d+$/.test(field) ? Number(field) : undefined;
}

function parseFlags(field: string | undefined): IndexFlags {
  const f = (field ?? '').toLowerCase();
  return { revoked: f.includes('r'), disabled: f.includes('d'), expired: f.includes('e') };
}

/**
 * Parses a machine-readable index. Empty fields, missing trailing fields, CRLF line ends
 * and unknown record types are tolerated; a `pub:` line without a usable key ID, and
 * `uid:` lines outside any key, are skipped and reported in `problems`.
 * @throws InputError (MS_KEYSERVER_HTML_INDEX) when the first byte is `<`: an HTML page
 *   is not an index, and GnuPG (ks-engine-hkp.c) refuses it the same way.
 */
export function parseMrIndex(input: Uint8Array | string): MrIndex {
  const text = typeof input === 'string' ? Buffer.from(input, 'utf8').toString('latin1') : Buffer.from(input).toString('latin1');
  if (text.startsWith('<')) {
    throw new InputError('MS_KEYSERVER_HTML_INDEX', 'the keyserver sent an HTML page instead of a machine-readable index', {
      hints: ['the server may not support options=mr; try another keyserver'],
    });
  }
  const index: MrIndex = { keys: [], problems: [] };
  let current: IndexKey | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].replace(/\r$/, '');
    if (line.trim() === '') continue;
    const fields = line.split(':');
    const record = fields[0].toLowerCase();
    const problem = (why: string) =>
      index.problems.push(new InputError('MS_KEYSERVER_INDEX_LINE', `index line ${n + 1}: ${why}`, { data: { line: n + 1 } }));
    if (record === 'info') {
      index.version = optionalInt(fields[1]);
      index.count = optionalInt(fields[2]);
    } else if (record === 'pub') {
      const id = (fields[1] ?? '').replace(/^0x/i, '').toUpperCase();
      const idKind = { 8: 'short-keyid', 16: 'keyid', 40: 'fingerprint', 64: 'fingerprint' }[id.length] as IndexKey['idKind'] | undefined;
      if (!/^[0-9A-F]+$/.test(id) || idKind === undefined) {
        problem(`"pub" record without a key ID or fingerprint (${JSON.stringify(fields[1] ?? '')})`);
        current = undefined;
        continue;
      }
      current = {
        id,
        idKind,
        algorithm: optionalInt(fields[2]),
        bits: optionalInt(fields[3]),
        created: optionalInt(fields[4]),
        expires: optionalInt(fields[5]),
        flags: parseFlags(fields[6]),
        userIds: [],
      };
      index.keys.push(current);
    } else if (record === 'uid') {
      if (!current) {
        problem('"uid" record outside any key');
        continue;
      }
      const bytes = unescapeBytes(fields[1] ?? '');
      current.userIds.push({
        bytes,
        text: bytes.toString('utf8'),
        created: optionalInt(fields[2]),
        expires: optionalInt(fields[3]),
        flags: parseFlags(fields[4]),
      });
    }
    // Other record types are left for future versions of the format.
  }
  return index;
}

/**
 * Escapes a user ID for a `uid:` field as SKS 1.1.6 does and GnuPG decodes it: every byte
 * outside printable 7-bit ASCII, `:` and `%` become `%XX`, so no user ID can end a field or a
 * line, or forge a record.
 */
export function escapeIndexField(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    out += b < 0x20 || b > 0x7e || b === 0x3a || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  }
  return out;
}

function formatFlags(flags: IndexFlags): string {
  return `${flags.revoked ? 'r' : ''}${flags.disabled ? 'd' : ''}${flags.expired ? 'e' : ''}`;
}

const field = (n: number | undefined) => (n === undefined ? '' : String(n));

/**
 * Writes a machine-readable index that `parseMrIndex` (and GnuPG's keyserver.c) reads back:
 * `info:1:<count>`, then per key `pub:<id>:<algo>:<bits>:<created>:<expires>:<flags>` and one
 * `uid:<escaped>:<created>:<expires>:<flags>` per user ID, each line ending in `\n` as SKS 1.1.6
 * and Hockeypuck write them (SKS adds a last line holding only `\r`, which readers skip).
 */
export function formatMrIndex(keys: readonly Omit<IndexKey, 'idKind'>[]): string {
  const lines = [`info:1:${keys.length}`];
  for (const k of keys) {
    lines.push(`pub:${k.id}:${field(k.algorithm)}:${field(k.bits)}:${field(k.created)}:${field(k.expires)}:${formatFlags(k.flags)}`);
    for (const u of k.userIds) lines.push(`uid:${escapeIndexField(u.bytes)}:${field(u.created)}:${field(u.expires)}:${formatFlags(u.flags)}`);
  }
  return `${lines.join('\n')}\n`;
}
