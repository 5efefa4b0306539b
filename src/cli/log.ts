/**
 * Monkeysphere's logging: stderr only, levels SILENT < ERROR < INFO < VERBOSE < DEBUG
 * (case-insensitive; an unknown level means INFO), each line prefixed "ms: " by default
 * (MONKEYSPHERE_LOG_PREFIX), exactly as the original's scripts parse it.
 *
 * One call is one line: control characters in a message (newlines and CRs included) are
 * escaped (src/util/printable.ts), so no text a message quotes (a user ID, a keyserver's
 * answer) can forge a log line or drive the terminal. Log several lines with several calls.
 */
import { withoutControls } from '../util/printable.js';
import type { Io } from './io.js';

export const LEVELS = ['SILENT', 'ERROR', 'INFO', 'VERBOSE', 'DEBUG'] as const;
export type Level = (typeof LEVELS)[number];

export function parseLevel(value: string | undefined): Level {
  const up = (value ?? '').toUpperCase();
  return (LEVELS as readonly string[]).includes(up) ? (up as Level) : 'INFO';
}

export class Logger {
  private readonly rank: number;

  constructor(
    private readonly io: Pick<Io, 'stderr'>,
    readonly level: Level = 'INFO',
    private readonly prefix = 'ms: ',
  ) {
    this.rank = LEVELS.indexOf(level);
  }

  private emit(at: Level, message: string): void {
    if (LEVELS.indexOf(at) > this.rank || this.rank === 0) return;
    this.io.stderr.write(`${this.prefix}${withoutControls(message)}\n`);
  }

  error(message: string): void {
    this.emit('ERROR', message);
  }
  info(message: string): void {
    this.emit('INFO', message);
  }
  verbose(message: string): void {
    this.emit('VERBOSE', message);
  }
  debug(message: string): void {
    this.emit('DEBUG', message);
  }
  enabled(at: Level): boolean {
    return this.rank > 0 && LEVELS.indexOf(at) <= this.rank;
  }
}

/** A logger configured from MONKEYSPHERE_LOG_LEVEL / MONKEYSPHERE_LOG_PREFIX, or an explicit level. */
export function loggerFor(io: Io, level?: string): Logger {
  return new Logger(io, parseLevel(level ?? io.env.MONKEYSPHERE_LOG_LEVEL), io.env.MONKEYSPHERE_LOG_PREFIX ?? 'ms: ');
}
