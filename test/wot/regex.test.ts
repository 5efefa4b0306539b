/**
 * Scope expressions: gpg 2.2's sanitization, the matcher (case-insensitive, unanchored,
 * linear), and expressions that must match nothing instead of failing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRegex, hasControlCharacters, regexMatches, sanitizeRegex, scopeDomain } from '../../src/wot/regex.js';

const m = (re: string, text: string, sanitize = true) => regexMatches(compileRegex(re, { sanitize }), text);

describe('sanitizeRegex (gpg 2.2 sanitize_regexp)', () => {
  it('keeps the standard frame and escaped characters', () => {
    assert.equal(sanitizeRegex('<[^>]+[@.]example\\.org>$'), '<[^>]+[@.]example\\.org>$');
    assert.equal(sanitizeRegex('<[^>]+[@.]my\\-dom\\.org>$'), '<[^>]+[@.]my\\-dom\\.org>$');
  });
  it('escapes operators outside the frame, but not "."', () => {
    assert.equal(sanitizeRegex('example.org'), 'example.org');
    assert.equal(sanitizeRegex('a|b'), 'a\\|b');
    assert.equal(sanitizeRegex('^(x+)*$'), '\\^\\(x\\+\\)\\*\\$');
    assert.equal(sanitizeRegex('<[^>]+[@.]ex(am)?ple\\.org>$'), '<[^>]+[@.]ex\\(am\\)\\?ple\\.org>$');
  });
});

describe('regexMatches', () => {
  it('matches gpg domain scopes on the address, case-insensitively', () => {
    const re = '<[^>]+[@.]example\\.org>$';
    assert.equal(m(re, 'Dave <dave@example.org>'), true);
    assert.equal(m(re, 'Gina <gina@EXAMPLE.ORG>'), true);
    assert.equal(m(re, 'Sub <x@mail.example.org>'), true);
    assert.equal(m(re, 'Frank <frank@other.org>'), false);
    assert.equal(m(re, 'Evil <x@example.org.evil.net>'), false);
    assert.equal(m(re, 'Evil <x@notexample.org>'), false);
    // gpg 2.2.40 does not wrap a bare address in <>, so it does not match.
    assert.equal(m(re, 'dave@example.org'), false);
  });
  it('searches unanchored, with ^ and $ only at the ends', () => {
    assert.equal(m('example.org', 'x <y@example.org> trailing'), true);
    assert.equal(m('^a', 'ba', false), false);
    assert.equal(m('^a', 'ab', false), true);
    assert.equal(m('a$', 'ab', false), false);
  });
  it('implements the RFC grammar when not sanitized', () => {
    assert.equal(m('^(foo|ba[rz])+$', 'FOObazbar', false), true);
    assert.equal(m('^(foo|ba[rz])+$', 'foobaq', false), false);
    assert.equal(m('colou?r', 'COLOR', false), true);
    assert.equal(m('[[:digit:]]+', 'abc123', false), true);
    assert.equal(m('[^a-c]', 'abc', false), false);
    assert.equal(m('[^a-c]', 'ABC', false), false, 'negated sets ignore case too');
  });
  it('folds case in ASCII only by default; like gpg (simple uppercase mappings) with gnupg', () => {
    const re = compileRegex('<[^>]+[@.]bücher\\.de>$');
    assert.equal(regexMatches(re, 'Hans <hans@BÜCHER.DE>'), false);
    assert.equal(regexMatches(re, 'Hans <hans@bÜcher.de>', 'ascii'), false);
    assert.equal(regexMatches(re, 'Hans <hans@BÜCHER.DE>', 'gnupg'), true);
    assert.equal(regexMatches(re, 'Hans <hans@BüCHER.DE>', 'ascii'), true);
  });
  it('never folds wider than gpg: U+212A KELVIN SIGN is not k, U+0130 is not i', () => {
    const re = compileRegex('<[^>]+[@.]kiosk\\.org>$');
    for (const fold of ['ascii', 'gnupg'] as const) {
      assert.equal(regexMatches(re, 'U <u@\u212Aiosk.org>', fold), false, fold);
      assert.equal(regexMatches(re, 'U <u@k\u0130osk.org>', fold), false, fold);
      assert.equal(regexMatches(re, 'U <u@kio\uFF53k.org>', fold), false, fold);
      assert.equal(regexMatches(re, 'U <u@KIOSK.ORG>', fold), true, fold);
    }
    // gpg's own fold maps U+017F LONG S to S and U+0131 DOTLESS I to I; ASCII folding does not.
    assert.equal(regexMatches(re, 'U <u@kio\u017Fk.org>', 'gnupg'), true);
    assert.equal(regexMatches(re, 'U <u@k\u0131osk.org>', 'gnupg'), true);
    assert.equal(regexMatches(re, 'U <u@kio\u017Fk.org>', 'ascii'), false);
    assert.equal(regexMatches(re, 'U <u@k\u0131osk.org>', 'ascii'), false);
  });
  it('exhaustively: only U+0131 and U+017F stand for an ASCII letter under gpg\'s fold, none under ascii', () => {
    const letters = compileRegex('^[a-z]$', { sanitize: false });
    const standIns = (fold: 'ascii' | 'gnupg') => {
      const out: number[] = [];
      for (let cp = 0x80; cp <= 0xffff; cp++) if ((cp < 0xd800 || cp > 0xdfff) && regexMatches(letters, String.fromCodePoint(cp), fold)) out.push(cp);
      return out;
    };
    assert.deepEqual(standIns('gnupg'), [0x131, 0x17f]);
    assert.deepEqual(standIns('ascii'), []);
  });
  it('an escaped non-ASCII character matches nothing, as in gpg (jimregexp escapes a byte)', () => {
    assert.equal(compileRegex('<[^>]+[@.]b\\ücher\\.de>$').prog, null);
    assert.equal(compileRegex('[\\ü]', { sanitize: false }).prog, null);
    assert.equal(m('<[^>]+[@.]bücher\\.de>$', 'Hans <hans@bücher.de>'), true);
  });
  it('makes unparseable expressions match nothing', () => {
    for (const bad of ['example\\', '<[^>]+[@.]foo\\d>$', '[abc', '(a', 'a)']) {
      const re = compileRegex(bad, { sanitize: false });
      assert.equal(re.prog, null, bad);
      assert.equal(regexMatches(re, 'anything example foo a'), false);
    }
    // After sanitization a trailing backslash is still an error.
    assert.equal(compileRegex('example\\').prog, null);
    assert.equal(compileRegex('x'.repeat(5000)).prog, null);
  });
  it('cannot be made to backtrack: nested quantifiers run in linear time', () => {
    const text = `${'a'.repeat(2048)}!`;
    assert.equal(m('^(a*)*$', text, false), false);
    assert.equal(m('^(a|a)*(a|aa)*b$', text, false), false);
    assert.equal(m('(a+)+(a+)+(a+)+c', text, false), false);
  });
});

describe('helpers', () => {
  it('scopeDomain reads the domain of a gpg scope', () => {
    assert.equal(scopeDomain('<[^>]+[@.]example\\.org>$'), 'example.org');
    assert.equal(scopeDomain('<[^>]+[@.]my\\-dom\\.org>$'), 'my-dom.org');
    assert.equal(scopeDomain('example.org'), undefined);
  });
  it('hasControlCharacters', () => {
    assert.equal(hasControlCharacters('a\nb'), true);
    assert.equal(hasControlCharacters('a\u0085b'), true);
    assert.equal(hasControlCharacters('Ünïcode <u@x.org>'), false);
  });
});
