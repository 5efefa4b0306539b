/**
 * Keeps docs/errors.md and the error codes thrown in src/ in sync: every code is
 * documented once, no documented code is stale, and the exit codes documented are
 * those of the error classes each code is thrown with.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');
const DOC = join(ROOT, 'docs', 'errors.md');

/** Exit codes of the classes in src/errors.ts. */
const EXIT: Record<string, number> = {
  UsageError: 2,
  InputError: 3,
  NotFoundError: 3,
  UnsupportedError: 3,
  MalformedPacketError: 3,
  EnvironmentError: 4,
  TemporaryError: 5,
  MsError: 70,
};
const VALID_EXITS = new Set(Object.values(EXIT));
/** Codes whose class is fixed by a subclass constructor in src/errors.ts. */
const FIXED: Record<string, number> = { MS_PGP_MALFORMED: EXIT.MalformedPacketError };

/** How far back (in lines) a `new XxxError(` may be from the code it constructs. */
const LOOKBACK = 3;

interface Occurrence {
  code: string;
  where: string;
  /** Exit code of the class it is thrown with; undefined when not in a `new XxxError(` expression. */
  exit?: number;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.ts')) out.push(path);
  }
  return out.sort();
}

/**
 * The class constructing the code at `lines[line]`, column `col`: the nearest `new XxxError(`
 * (or `super(` in `class … extends XxxError`) before it on the same or the previous LOOKBACK
 * lines, provided no other code literal lies in between (that one would be its code).
 */
function classAt(lines: string[], line: number, col: number): number | undefined {
  const before = lines[line].slice(0, col);
  if (/(?:[!=]==?|instanceof)\s*$/.test(before)) return undefined; // a comparison, not a construction
  for (let l = line; l >= Math.max(0, line - LOOKBACK); l--) {
    const text = l === line ? before : lines[l];
    const ctor = [...text.matchAll(/\bnew\s+(\w+Error)\s*\(|\bsuper\s*\(/g)].pop();
    if (ctor === undefined) {
      if (/'MS_[A-Z0-9_]+'/.test(text)) return undefined;
      continue;
    }
    const between = [text.slice(ctor.index + ctor[0].length), ...lines.slice(l + 1, line), l === line ? '' : before].join('\n');
    if (/'MS_[A-Z0-9_]+'|`\$\{\w+\}_[A-Z0-9_]+`/.test(between)) return undefined;
    const name = ctor[1] ?? enclosingBaseClass(lines, l);
    return name === undefined ? undefined : EXIT[name];
  }
  return undefined;
}

/** For a `super(` call: the base class of the nearest preceding `class X extends Y`. */
function enclosingBaseClass(lines: string[], line: number): string | undefined {
  for (let l = line; l >= 0; l--) {
    const m = /\bclass\s+\w+\s+extends\s+(\w+)/.exec(lines[l]);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Every code in src: the string literals 'MS_…', plus the codes the HTTP helper builds as
 * `${prefix}_SUFFIX` from each `codePrefix: 'MS_…'` its callers pass (the prefix itself is not a code).
 */
function scanSource(): { occurrences: Occurrence[]; prefixes: Map<string, string>; built: number } {
  const occurrences: Occurrence[] = [];
  const prefixes = new Map<string, string>();
  const suffixes: { suffix: string; where: string; exit?: number }[] = [];
  for (const file of tsFiles(SRC)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    const name = relative(ROOT, file);
    const builds = lines.some((l) => /\.codePrefix\b/.test(l));
    lines.forEach((text, i) => {
      const where = `${name}:${i + 1}`;
      for (const m of text.matchAll(/'(MS_[A-Z0-9_]+)'/g)) {
        if (/\bcodePrefix\s*:\s*$/.test(text.slice(0, m.index))) prefixes.set(m[1], where);
        else occurrences.push({ code: m[1], where, exit: FIXED[m[1]] ?? classAt(lines, i, m.index) });
      }
      if (builds) {
        for (const m of text.matchAll(/`\$\{\w+\}_([A-Z0-9_]+)`/g)) suffixes.push({ suffix: m[1], where, exit: classAt(lines, i, m.index) });
      }
    });
  }
  for (const prefix of prefixes.keys()) {
    for (const s of suffixes) occurrences.push({ code: `${prefix}_${s.suffix}`, where: s.where, exit: s.exit });
  }
  return { occurrences, prefixes, built: suffixes.length };
}

interface DocRow {
  code: string;
  exits: number[];
  line: number;
}

/** Table rows of docs/errors.md whose first cell is a backticked code. */
function parseDoc(): DocRow[] {
  const rows: DocRow[] = [];
  readFileSync(DOC, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (!text.trimStart().startsWith('|')) return;
      const cells = text.split('|').slice(1, -1);
      const m = /^\s*`(MS_[A-Z0-9_]+)`\s*$/.exec(cells[0] ?? '');
      if (!m) return;
      rows.push({ code: m[1], exits: [...(cells[1] ?? '').matchAll(/\d+/g)].map((d) => Number(d[0])), line: i + 1 });
    });
  return rows;
}

const { occurrences, prefixes, built } = scanSource();
const rows = parseDoc();
const used = new Set(occurrences.map((o) => o.code));
const documented = new Map(rows.map((r) => [r.code, r]));
const sorted = (xs: Iterable<number>) => [...new Set(xs)].sort((a, b) => a - b);

describe('docs/errors.md', () => {
  test('the scan finds the codes', () => {
    assert.ok(used.size > 100, `only ${used.size} codes found under src/`);
    assert.ok(rows.length > 100, `only ${rows.length} documented codes found in docs/errors.md`);
    const prefixed = [...prefixes].map(([prefix, where]) => `${prefix} (${where})`);
    assert.ok(prefixes.size === 0 || built > 0, `code prefixes ${prefixed.join(', ')} are used, but no \`\${prefix}_SUFFIX\` codes were found`);
  });

  test('every code used in src is documented', () => {
    const missing = [...used].filter((c) => !documented.has(c)).sort();
    const where = missing.map((c) => `${c} (${occurrences.find((o) => o.code === c)?.where})`);
    assert.deepEqual(missing, [], `undocumented codes: ${where.join(', ')}`);
  });

  test('every documented code is still used in src', () => {
    const stale = rows.filter((r) => !used.has(r.code)).map((r) => `${r.code} (docs/errors.md:${r.line})`);
    assert.deepEqual(stale, [], `documented but not used in src: ${stale.join(', ')}`);
  });

  test('no code is documented twice', () => {
    const seen = new Map<string, number>();
    const twice: string[] = [];
    for (const r of rows) {
      const first = seen.get(r.code);
      if (first !== undefined) twice.push(`${r.code} (lines ${first} and ${r.line})`);
      else seen.set(r.code, r.line);
    }
    assert.deepEqual(twice, [], `documented more than once: ${twice.join(', ')}`);
  });

  test('documented exit codes match the classes the codes are thrown with', () => {
    const wrong: string[] = [];
    for (const r of rows) {
      const found = occurrences.filter((o) => o.code === r.code);
      if (found.length === 0) continue; // reported as stale above
      const doc = sorted(r.exits);
      const invalid = doc.filter((e) => !VALID_EXITS.has(e));
      if (doc.length === 0 || invalid.length > 0) {
        wrong.push(`${r.code}: documented exit "${doc.join(', ')}" is not a list of ${sorted(VALID_EXITS).join('/')}`);
        continue;
      }
      const scanned = sorted(found.flatMap((o) => (o.exit === undefined ? [] : [o.exit])));
      // No construction site found: the doc's reading of the code stands.
      if (scanned.length === 0) continue;
      if (doc.join(',') !== scanned.join(',')) {
        const sites = found.filter((o) => o.exit !== undefined).map((o) => `${o.where} → ${o.exit}`);
        wrong.push(`${r.code}: documented ${doc.join(', ')}, thrown with ${scanned.join(', ')} (${sites.join('; ')})`);
      }
    }
    assert.deepEqual(wrong, [], `exit codes out of sync:\n${wrong.join('\n')}`);
  });
});
