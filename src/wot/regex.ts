/**
 * Trust-signature scopes (RFC 4880 §8 regular expressions) in GnuPG 2.2's dialect:
 * the expression is first sanitized exactly like gpg's `sanitize_regexp` (every
 * operator but `.` is escaped, except inside the standard `<[^>]+[@.]…>$` frame),
 * then matched case-insensitively with extended syntax. The matcher is a Thompson
 * NFA simulated in lock step, so matching is linear in the user ID: no expression
 * can make it backtrack or hang. Not a general regex library.
 *
 * Case is ignored in one of two ways (`CaseFold`), never by JavaScript's full Unicode
 * case mapping, which would let U+212A KELVIN SIGN stand for `k` and so carry a user ID
 * outside a certifier's domain:
 * - `ascii`: only A–Z and a–z fold. Never wider than gpg; what decides access.
 * - `gnupg`: gpg 2.2's own rule (jimregexp with REG_ICASE: pattern and text both
 *   uppercased, ASCII by toupper, other BMP letters by their simple uppercase mapping),
 *   so U+017F LONG S matches `s` and U+0131 DOTLESS I matches `i`, as in gpg, while
 *   U+212A and U+0130 (uppercase already) match nothing but themselves.
 */

/** gpg's standard frame, as `tsign` writes it for a domain. */
const FRAME_HEAD = '<[^>]+[@.]';
const FRAME_TAIL = '>$';
/** Operators that gpg 2.2 escapes outside the frame (`.` and `\` are kept). */
const OPERATORS = '^[$()|*+?{';
/** Longest expression we compile; longer ones match nothing. */
export const MAX_REGEX_LENGTH = 1024;

/**
 * gpg 2.2's sanitize_regexp: keeps the standard frame, and in between (or in the whole
 * expression when there is no frame) escapes every operator character except `.`;
 * characters already escaped with `\` are left as they are.
 */
export function sanitizeRegex(source: string): string {
  let start = 0;
  let end = source.length;
  let out = '';
  let framed = false;
  if (source.length >= 12 && source.startsWith(FRAME_HEAD) && source.endsWith(FRAME_TAIL)) {
    out = FRAME_HEAD;
    framed = true;
    start = FRAME_HEAD.length;
    end -= FRAME_TAIL.length;
  }
  let escaped = false;
  for (let i = start; i < end; i++) {
    const c = source[i];
    if (!escaped && c === '\\') escaped = true;
    else if (!escaped && OPERATORS.includes(c)) out += '\\';
    else escaped = false;
    out += c;
  }
  return framed ? out + FRAME_TAIL : out;
}

/**
 * The domain of a gpg-style scope (`<[^>]+[@.]example\.org>$` → `example.org`), for
 * people to read; undefined when the expression is not in that form.
 */
export function scopeDomain(source: string): string | undefined {
  if (!(source.length >= 12 && source.startsWith(FRAME_HEAD) && source.endsWith(FRAME_TAIL))) return undefined;
  const middle = source.slice(FRAME_HEAD.length, -FRAME_TAIL.length);
  let out = '';
  for (let i = 0; i < middle.length; i++) {
    const c = middle[i];
    if (c === '\\') {
      const next = middle[i + 1];
      if (next === undefined || /[A-Za-z0-9]/.test(next)) return undefined;
      out += next;
      i++;
    } else if (c === '.' || /[A-Za-z0-9-]/.test(c) || c.charCodeAt(0) > 0x7f) out += c;
    else return undefined;
  }
  return out.length > 0 ? out : undefined;
}

// ---- Parsing into a small AST ------------------------------------------------------

/** A bracket expression: `ranges` from literal characters (folded with the text), `classes` from [:name:] (as they are, like gpg). */
interface CharSet {
  negated: boolean;
  ranges: Array<[number, number]>;
  classes: Array<[number, number]>;
}

type Node =
  | { kind: 'char'; cp: number }
  | { kind: 'any' }
  | ({ kind: 'set' } & CharSet)
  | { kind: 'bol' }
  | { kind: 'eol' }
  | { kind: 'cat'; items: Node[] }
  | { kind: 'alt'; items: Node[] }
  | { kind: 'star' | 'plus' | 'opt'; item: Node };

class RegexSyntaxError extends Error {}

const POSIX_CLASSES: Record<string, Array<[number, number]>> = {
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  digit: [[0x30, 0x39]],
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  upper: [[0x41, 0x5a]],
  lower: [[0x61, 0x7a]],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

/** Recursive-descent parser over code points; depth of nested groups is bounded. */
class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly cps: number[]) {}

  parse(): Node {
    const node = this.alternation();
    if (this.pos !== this.cps.length) throw new RegexSyntaxError('unbalanced )');
    return node;
  }

  private peek(): number | undefined {
    return this.cps[this.pos];
  }

  private alternation(): Node {
    const items = [this.concatenation()];
    while (this.peek() === 0x7c /* | */) {
      this.pos++;
      items.push(this.concatenation());
    }
    return items.length === 1 ? items[0] : { kind: 'alt', items };
  }

  private concatenation(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x7c || c === 0x29 /* ) */) break;
      let atom = this.atom();
      for (;;) {
        const q = this.peek();
        if (q === 0x2a) atom = { kind: 'star', item: atom };
        else if (q === 0x2b) atom = { kind: 'plus', item: atom };
        else if (q === 0x3f) atom = { kind: 'opt', item: atom };
        else break;
        this.pos++;
      }
      items.push(atom);
    }
    return items.length === 1 ? items[0] : { kind: 'cat', items };
  }

  private atom(): Node {
    const c = this.cps[this.pos++];
    switch (c) {
      case 0x28 /* ( */: {
        if (++this.depth > 32) throw new RegexSyntaxError('groups nested too deeply');
        const inner = this.peek() === 0x29 ? ({ kind: 'cat', items: [] } as Node) : this.alternation();
        if (this.peek() !== 0x29) throw new RegexSyntaxError('missing )');
        this.pos++;
        this.depth--;
        return inner;
      }
      case 0x2e /* . */:
        return { kind: 'any' };
      case 0x5e /* ^ */:
        return { kind: 'bol' };
      case 0x24 /* $ */:
        return { kind: 'eol' };
      case 0x5b /* [ */:
        return this.bracket();
      case 0x5c /* \ */: {
        const e = this.cps[this.pos++];
        if (e === undefined) throw new RegexSyntaxError('trailing backslash');
        // Escaped letters and digits are class or assertion escapes in jimregexp
        // (\d, \w, \<, …); we do not emulate them, so such an expression matches nothing.
        if (isAsciiAlnum(e)) throw new RegexSyntaxError('unsupported escape');
        // jimregexp takes the byte after a backslash, not the character: an escaped non-ASCII
        // character never matches itself in gpg, so it must not here.
        if (e > 0x7f) throw new RegexSyntaxError('escaped non-ASCII character');
        return { kind: 'char', cp: e };
      }
      case 0x2a:
      case 0x2b:
      case 0x3f:
        throw new RegexSyntaxError('quantifier without operand');
      default:
        return { kind: 'char', cp: c };
    }
  }

  private bracket(): Node {
    let negated = false;
    if (this.peek() === 0x5e) {
      negated = true;
      this.pos++;
    }
    const ranges: Array<[number, number]> = [];
    const classes: Array<[number, number]> = [];
    let first = true;
    for (;;) {
      const c = this.cps[this.pos++];
      if (c === undefined) throw new RegexSyntaxError('missing ]');
      if (c === 0x5d /* ] */ && !first) break;
      first = false;
      if (c === 0x5b && this.peek() === 0x3a /* [: */) {
        const close = this.findClassEnd();
        const name = String.fromCodePoint(...this.cps.slice(this.pos + 1, close));
        const cls = POSIX_CLASSES[name];
        if (!cls) throw new RegexSyntaxError(`unknown class ${name}`);
        classes.push(...cls);
        this.pos = close + 2;
        continue;
      }
      let lo = c;
      if (c === 0x5c && this.peek() !== undefined) lo = this.cps[this.pos++];
      if (c === 0x5c && lo > 0x7f) throw new RegexSyntaxError('escaped non-ASCII character');
      if (this.peek() === 0x2d /* - */ && this.cps[this.pos + 1] !== undefined && this.cps[this.pos + 1] !== 0x5d) {
        this.pos++;
        let hi = this.cps[this.pos++];
        if (hi === 0x5c && this.peek() !== undefined) {
          hi = this.cps[this.pos++];
          if (hi > 0x7f) throw new RegexSyntaxError('escaped non-ASCII character');
        }
        if (hi < lo) throw new RegexSyntaxError('invalid range');
        ranges.push([lo, hi]);
      } else ranges.push([lo, lo]);
    }
    return { kind: 'set', negated, ranges, classes };
  }

  private findClassEnd(): number {
    for (let i = this.pos + 1; i + 1 < this.cps.length; i++) {
      if (this.cps[i] === 0x3a && this.cps[i + 1] === 0x5d) return i;
    }
    throw new RegexSyntaxError('unterminated character class');
  }
}

function isAsciiAlnum(cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
}

// ---- Thompson NFA ---------------------------------------------------------------------

const Op = { Char: 0, Any: 1, Set: 2, Bol: 3, Eol: 4, Split: 5, Jump: 6, Match: 7 } as const;
type Op = (typeof Op)[keyof typeof Op];

interface Inst {
  op: Op;
  /** Char: the pattern's code point, unfolded. */
  cp?: number;
  set?: CharSet;
  /** Char and Set: the pattern side folded, per CaseFold, computed on first use. */
  folded?: Partial<Record<CaseFold, number | Array<[number, number]>>>;
  /** Split: both targets; Jump: x only. */
  x?: number;
  y?: number;
}

/** How a match ignores case (see the module comment). */
export type CaseFold = 'ascii' | 'gnupg';

const asciiUpper = (cp: number) => (cp >= 0x61 && cp <= 0x7a ? cp - 0x20 : cp);

const LETTER = /^\p{L}$/u;
const upperCache = new Map<number, number>();

/**
 * gpg 2.2's utf8_upper (regexp/utf8.c): toupper for ASCII; for other letters of the BMP
 * the simple uppercase mapping of UnicodeData.txt, here as the platform's uppercase
 * when that is one code point (a multi-character uppercase, like ß's SS, has no simple
 * mapping); anything else unchanged.
 */
function gnupgUpper(cp: number): number {
  if (cp < 0x80) return asciiUpper(cp);
  if (cp > 0xffff) return cp;
  let up = upperCache.get(cp);
  if (up === undefined) {
    const s = String.fromCodePoint(cp);
    const u = LETTER.test(s) ? Array.from(s.toUpperCase()) : [];
    up = u.length === 1 ? u[0].codePointAt(0)! : cp;
    upperCache.set(cp, up);
  }
  return up;
}

const FOLD: Record<CaseFold, (cp: number) => number> = { ascii: asciiUpper, gnupg: gnupgUpper };

function compileNode(node: Node, prog: Inst[]): void {
  switch (node.kind) {
    case 'char':
      prog.push({ op: Op.Char, cp: node.cp });
      return;
    case 'any':
      prog.push({ op: Op.Any });
      return;
    case 'set':
      prog.push({ op: Op.Set, set: { negated: node.negated, ranges: node.ranges, classes: node.classes } });
      return;
    case 'bol':
      prog.push({ op: Op.Bol });
      return;
    case 'eol':
      prog.push({ op: Op.Eol });
      return;
    case 'cat':
      for (const item of node.items) compileNode(item, prog);
      return;
    case 'alt': {
      // split L1, next; L1: a; jmp end; next: split … ; last: b; end:
      const jumps: number[] = [];
      node.items.forEach((item, i) => {
        if (i < node.items.length - 1) {
          const split = prog.push({ op: Op.Split }) - 1;
          prog[split].x = prog.length;
          compileNode(item, prog);
          jumps.push(prog.push({ op: Op.Jump }) - 1);
          prog[split].y = prog.length;
        } else compileNode(item, prog);
      });
      for (const j of jumps) prog[j].x = prog.length;
      return;
    }
    case 'star': {
      const split = prog.push({ op: Op.Split }) - 1;
      prog[split].x = prog.length;
      compileNode(node.item, prog);
      prog.push({ op: Op.Jump, x: split });
      prog[split].y = prog.length;
      return;
    }
    case 'plus': {
      const start = prog.length;
      compileNode(node.item, prog);
      prog.push({ op: Op.Split, x: start, y: prog.length + 1 });
      return;
    }
    case 'opt': {
      const split = prog.push({ op: Op.Split }) - 1;
      prog[split].x = prog.length;
      compileNode(node.item, prog);
      prog[split].y = prog.length;
      return;
    }
  }
}

/** The Char instruction's code point, folded. */
function foldedChar(inst: Inst, fold: CaseFold): number {
  inst.folded ??= {};
  let v = inst.folded[fold] as number | undefined;
  if (v === undefined) {
    v = FOLD[fold](inst.cp!);
    inst.folded[fold] = v;
  }
  return v;
}

/**
 * The Set instruction's ranges with literal endpoints folded, as gpg folds them when it
 * compiles a bracket (a range whose folded ends are swapped is taken the other way
 * round, as reg_addrange does); classes as they are.
 */
function foldedRanges(inst: Inst, fold: CaseFold): Array<[number, number]> {
  inst.folded ??= {};
  let v = inst.folded[fold] as Array<[number, number]> | undefined;
  if (v === undefined) {
    const f = FOLD[fold];
    v = inst.set!.ranges.map(([lo, hi]): [number, number] => {
      const a = f(lo);
      const b = f(hi);
      return a <= b ? [a, b] : [b, a];
    });
    v.push(...inst.set!.classes);
    inst.folded[fold] = v;
  }
  return v;
}

/** Whether the folded code point `cp` is in the set. */
function inSet(inst: Inst, fold: CaseFold, cp: number): boolean {
  let hit = false;
  for (const [lo, hi] of foldedRanges(inst, fold)) {
    if (cp >= lo && cp <= hi) {
      hit = true;
      break;
    }
  }
  return inst.set!.negated ? !hit : hit;
}

/** A compiled scope: `null` program when the expression is unparseable (it then matches nothing). */
export interface CompiledRegex {
  /** The expression as found in the signature (without its trailing NUL). */
  source: string;
  /** After gpg's sanitization, or the source itself when compiled without it. */
  effective: string;
  /** Why it does not compile, when it does not. */
  error?: string;
  prog: Inst[] | null;
}

/**
 * Compiles a regular expression. With `sanitize` (the default) it is first rewritten
 * like gpg 2.2 does; an expression that still does not parse, or is longer than
 * MAX_REGEX_LENGTH, compiles to one that matches nothing.
 */
export function compileRegex(source: string, opts: { sanitize?: boolean } = {}): CompiledRegex {
  const effective = opts.sanitize === false ? source : sanitizeRegex(source);
  if (effective.length > MAX_REGEX_LENGTH) return { source, effective, error: 'expression too long', prog: null };
  try {
    const ast = new Parser(Array.from(effective, (c) => c.codePointAt(0)!)).parse();
    const prog: Inst[] = [];
    compileNode(ast, prog);
    prog.push({ op: Op.Match });
    return { source, effective, prog };
  } catch (err) {
    if (err instanceof RegexSyntaxError) return { source, effective, error: err.message, prog: null };
    throw err;
  }
}

/** Adds state `pc` and everything reachable from it without consuming input. */
function addState(prog: Inst[], list: number[], mark: Uint32Array, gen: number, pc: number, atStart: boolean, atEnd: boolean): void {
  const stack = [pc];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (mark[p] === gen) continue;
    mark[p] = gen;
    const inst = prog[p];
    switch (inst.op) {
      case Op.Jump:
        stack.push(inst.x!);
        break;
      case Op.Split:
        stack.push(inst.y!, inst.x!);
        break;
      case Op.Bol:
        if (atStart) stack.push(p + 1);
        break;
      case Op.Eol:
        if (atEnd) stack.push(p + 1);
        break;
      default:
        list.push(p);
    }
  }
}

/**
 * Whether the expression matches anywhere in `text` (regexec semantics: unanchored
 * search; `^` and `$` anchor at the ends only), ignoring case as `fold` says (default
 * `ascii`, the one never wider than gpg). Linear in the text.
 */
export function regexMatches(re: CompiledRegex, text: string, fold: CaseFold = 'ascii'): boolean {
  const prog = re.prog;
  if (!prog) return false;
  const f = FOLD[fold];
  const cps = Array.from(text, (c) => f(c.codePointAt(0)!));
  const mark = new Uint32Array(prog.length);
  let gen = 1;
  let current: number[] = [];
  for (let i = 0; i <= cps.length; i++) {
    // Unanchored search: a new thread may start at every position.
    addState(prog, current, mark, gen, 0, i === 0, i === cps.length);
    for (const p of current) if (prog[p].op === Op.Match) return true;
    if (i === cps.length) break;
    const cp = cps[i];
    const next: number[] = [];
    gen++;
    for (const p of current) {
      const inst = prog[p];
      let ok = false;
      if (inst.op === Op.Char) ok = foldedChar(inst, fold) === cp;
      else if (inst.op === Op.Any) ok = true;
      else if (inst.op === Op.Set) ok = inSet(inst, fold, cp);
      if (ok) addState(prog, next, mark, gen, p + 1, false, i + 1 === cps.length);
    }
    current = next;
  }
  return false;
}

/** True when the user ID contains C0 or C1 control characters (including NUL and DEL). */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}
