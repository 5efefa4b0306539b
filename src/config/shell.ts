/**
 * Parsing Monkeysphere configuration files. The original sourced them with bash; we
 * read the subset such files use: `[export] NAME=VALUE` assignments with single and
 * double quotes, backslash escapes, `$NAME`, `${NAME}` and `${NAME:-word}` expansion,
 * `~` and `~/…` (to $HOME, at the start of a value or after `:`, as bash expands
 * assignments: 0.43's sample file writes `GNUPGHOME=~/.gnupg`), and `#` comments. Anything else (commands, `$(…)`) is reported and skipped, never run.
 */

export interface ConfigLineProblem {
  line: number;
  message: string;
}

export interface Assignment {
  name: string;
  value: string;
  line: number;
}

export interface ParsedShellConfig {
  /** Assignments in file order. */
  assignments: Assignment[];
  /** Final value of each variable assigned in the file. */
  vars: Map<string, string>;
  problems: ConfigLineProblem[];
}

class LineError extends Error {}

const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*/y;

/**
 * Parses shell-style assignments. `lookup` resolves variables the file did not set
 * (typically the environment and files read before this one), as bash sourcing would.
 */
export function parseShellConfig(text: string, lookup: (name: string) => string | undefined = () => undefined): ParsedShellConfig {
  const assignments: Assignment[] = [];
  const vars = new Map<string, string>();
  const problems: ConfigLineProblem[] = [];
  const resolve = (name: string) => vars.get(name) ?? lookup(name) ?? '';
  let pos = 0;
  let line = 1;

  const skipToLineEnd = () => {
    while (pos < text.length && text[pos] !== '\n') pos++;
  };

  while (pos < text.length) {
    const ch = text[pos];
    if (ch === '\n') {
      pos++;
      line++;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === ';') {
      pos++;
      continue;
    }
    if (ch === '#') {
      skipToLineEnd();
      continue;
    }
    const startLine = line;
    const lineStart = pos;
    try {
      if (text.startsWith('export', pos) && /[ \t]/.test(text[pos + 6] ?? '')) {
        pos += 6;
        while (text[pos] === ' ' || text[pos] === '\t') pos++;
      }
      NAME_RE.lastIndex = pos;
      const m = NAME_RE.exec(text);
      if (!m || text[pos + m[0].length] !== '=') throw new LineError('not a variable assignment');
      const name = m[0];
      pos += name.length + 1;
      const read = readWord(text, pos, resolve);
      line += read.newlines;
      pos = read.end;
      // After the value: blanks, then a comment, `;` or the end of the line.
      while (text[pos] === ' ' || text[pos] === '\t' || text[pos] === '\r') pos++;
      if (pos < text.length && text[pos] !== '\n' && text[pos] !== '#' && text[pos] !== ';') {
        throw new LineError('unexpected text after the value (quote values that contain spaces)');
      }
      vars.set(name, read.value);
      assignments.push({ name, value: read.value, line: startLine });
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      const end = text.indexOf('\n', lineStart);
      const whole = text.slice(lineStart, end < 0 ? text.length : end).trim();
      // Quoted on the user's terminal: a long line is cut, not echoed whole.
      const shown = whole.length > 80 ? `${whole.slice(0, 80)}…` : whole;
      problems.push({ line: startLine, message: `${err.message}: ${JSON.stringify(shown)}; line ignored` });
      pos = lineStart;
      skipToLineEnd();
    }
  }
  return { assignments, vars, problems };
}

function readWord(text: string, start: number, resolve: (name: string) => string): { value: string; end: number; newlines: number } {
  let pos = start;
  let value = '';
  let newlines = 0;
  const expand = (): string => {
    // pos is at '$'
    pos++;
    if (text[pos] === '{') {
      const close = text.indexOf('}', pos);
      if (close < 0) throw new LineError('unterminated ${');
      const inner = text.slice(pos + 1, close);
      pos = close + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?$/s.exec(inner);
      if (!m) throw new LineError(`unsupported expansion \${${inner}}`);
      const v = resolve(m[1]);
      if (m[2] === ':-') return v === '' ? m[3] : v;
      if (m[2] === '-') return v;
      return v;
    }
    if (text[pos] === '(' || text[pos] === '`') throw new LineError('command substitution is not supported');
    NAME_RE.lastIndex = pos;
    const m = NAME_RE.exec(text);
    if (!m) return '$';
    pos += m[0].length;
    return resolve(m[0]);
  };
  for (;;) {
    const ch = text[pos];
    if (ch === undefined || ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === ';') break;
    if (ch === '`') throw new LineError('command substitution is not supported');
    if (ch === "'") {
      const close = text.indexOf("'", pos + 1);
      if (close < 0) throw new LineError('unterminated single quote');
      const chunk = text.slice(pos + 1, close);
      newlines += chunk.split('\n').length - 1;
      value += chunk;
      pos = close + 1;
    } else if (ch === '"') {
      pos++;
      for (;;) {
        const c = text[pos];
        if (c === undefined) throw new LineError('unterminated double quote');
        if (c === '"') {
          pos++;
          break;
        }
        if (c === '\\' && ['\\', '"', '$', '`', '\n'].includes(text[pos + 1] ?? '')) {
          if (text[pos + 1] === '\n') newlines++;
          else value += text[pos + 1];
          pos += 2;
        } else if (c === '$') {
          value += expand();
        } else if (c === '`') {
          throw new LineError('command substitution is not supported');
        } else {
          if (c === '\n') newlines++;
          value += c;
          pos++;
        }
      }
    } else if (ch === '\\') {
      const next = text[pos + 1];
      if (next === '\n') newlines++;
      else if (next !== undefined) value += next;
      pos += 2;
    } else if (ch === '$') {
      value += expand();
    } else if (ch === '~' && (pos === start || text[pos - 1] === ':')) {
      // Bash's tilde prefix: up to the first unquoted '/' or ':'; only the user's own home here.
      const user = /^[A-Za-z_][\w.-]*/.exec(text.slice(pos + 1, pos + 65))?.[0];
      if (user) throw new LineError(`~${user} (another user's home) is not supported; write the path out`);
      const home = resolve('HOME');
      if (home === '') throw new LineError('~ needs HOME, which is not set');
      value += home;
      pos++;
    } else {
      value += ch;
      pos++;
    }
  }
  return { value, end: pos, newlines };
}
