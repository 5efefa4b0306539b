/**
 * The interactive questions (src/cli/prompt.ts), as the original's `read` answers them: one
 * line per question, the default on an empty line, and no yes at the end of input.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { confirm, stdinAsker } from '../../src/cli/prompt.js';

function asker(input: string) {
  let asked = '';
  const a = stdinAsker(Readable.from(input === '' ? [] : [Buffer.from(input)]), { write: (s: string) => (asked += s) });
  return { a, asked: () => asked };
}

describe('confirm', () => {
  test('an empty line takes the default; y and n (any case, words too) decide; the question shows the default', async () => {
    const { a, asked } = asker('\n\nYes\nno\nN\r\n');
    assert.equal(await confirm(a, 'Go?', true), true);
    assert.equal(await confirm(a, 'Go?', false), false);
    assert.equal(await confirm(a, 'Go?', false), true);
    assert.equal(await confirm(a, 'Go?', true), false);
    assert.equal(await confirm(a, 'Go?', true), false);
    assert.equal(asked(), 'Go? (Y/n) Go? (y/N) Go? (y/N) Go? (Y/n) Go? (Y/n) ');
  });

  test('the end of input is never a yes, whatever the default', async () => {
    assert.equal(await confirm(asker('').a, 'Go?', true), false);
    const { a } = asker('y\n');
    assert.equal(await confirm(a, 'First?', false), true);
    assert.equal(await confirm(a, 'Second?', true), false, 'the input ran out before the second question');
  });

  test('a last line without its newline still counts', async () => {
    assert.equal(await confirm(asker('y').a, 'Go?', false), true);
  });
});
