/**
 * Questions for the interactive commands: yes/no answers read line by line from the
 * command's stdin (as the original's `read`), and passphrases read from the terminal
 * without echo. CLI-level helpers; library code never prompts.
 */
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ReadStream, WriteStream } from 'node:tty';

/** Reads stdin one line at a time, leaving the rest unread for the next question. */
export class LineReader {
  private buffer = '';
  private ended = false;
  private readonly iterator: AsyncIterator<Buffer | string>;

  constructor(stream: Readable) {
    this.iterator = stream[Symbol.asyncIterator]();
  }

  /** The next line without its newline; undefined at end of input. */
  async line(): Promise<string | undefined> {
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl >= 0) {
        const out = this.buffer.slice(0, nl).replace(/\r$/, '');
        this.buffer = this.buffer.slice(nl + 1);
        return out;
      }
      if (this.ended) {
        if (this.buffer === '') return undefined;
        const out = this.buffer;
        this.buffer = '';
        return out;
      }
      const next = await this.iterator.next();
      if (next.done) this.ended = true;
      else this.buffer += typeof next.value === 'string' ? next.value : next.value.toString('utf8');
    }
  }
}

export interface Asker {
  /** Writes the question to stderr and returns the answer line; undefined at end of input. */
  ask(question: string): Promise<string | undefined>;
}

/** An Asker over the command's stdin and stderr. */
export function stdinAsker(stdin: Readable, stderr: { write(s: string): unknown }): Asker {
  let reader: LineReader | undefined;
  return {
    async ask(question: string): Promise<string | undefined> {
      stderr.write(question);
      reader ??= new LineReader(stdin);
      return reader.line();
    },
  };
}

/**
 * y/N (defaultYes false) or Y/n (defaultYes true), as the original's `${OK/y/Y}` tests: an
 * empty line takes the default, and no line at all (end of input) is never a yes, as the
 * original's `read` fails there and `set -e` stops it before it acts.
 */
export async function confirm(asker: Asker, question: string, defaultYes: boolean): Promise<boolean> {
  const line = await asker.ask(`${question} (${defaultYes ? 'Y/n' : 'y/N'}) `);
  if (line === undefined) return false;
  const answer = line.trim().toLowerCase();
  if (answer === '') return defaultYes;
  return answer.startsWith('y');
}

/**
 * Reads a passphrase from the controlling terminal without echo; undefined when there
 * is no terminal to ask on.
 */
export async function askPassphraseOnTty(prompt: string): Promise<string | undefined> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    // No controlling terminal (cron, CI, a pipe): nothing to ask on.
    return undefined;
  }
  const input = new ReadStream(fd);
  const output = new WriteStream(fd);
  try {
    output.write(prompt);
    input.setRawMode(true);
    let text = '';
    for await (const chunk of input) {
      for (const ch of (chunk as Buffer).toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          output.write('\n');
          return text;
        }
        if (ch === '\u0003') {
          output.write('\n');
          return undefined;
        }
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    }
    return text;
  } finally {
    input.setRawMode(false);
    input.destroy();
    output.destroy();
    try {
      closeSync(fd);
    } catch {
      // Already closed by the streams.
    }
  }
}
