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
  it('folds case beyond ASCII', () => {
    assert.equal(m('<[^>]+[@.]bücher\\.de>$', 'Hans <hans@BÜCHER.DE>'), true);
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
