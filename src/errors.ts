/**
 * Error types shared by every module. Library code throws these and never
 * prints or exits; the CLI layer maps them to messages and exit codes.
 * "Not valid" is an answer, not an error: trust verdicts are returned, not thrown.
 */

export type ErrorData = Record<string, unknown>;

export class MsError extends Error {
  readonly code: string;
  readonly hints: string[];
  readonly data: ErrorData;
  /** Exit code a CLI uses when this error ends the command. */
  readonly exitCode: number = 70;

  constructor(code: string, message: string, opts: { cause?: unknown; hints?: string[]; data?: ErrorData } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.hints = opts.hints ?? [];
    this.data = opts.data ?? {};
  }
}

/** The command line was wrong: unknown option, missing argument. */
export class UsageError extends MsError {
  override readonly exitCode = 2;
}

/** Input data was malformed: a packet, a key file, a config line. */
export class InputError extends MsError {
  override readonly exitCode = 3;
}

/** Something asked for does not exist: a key ID, a user, a file. */
export class NotFoundError extends MsError {
  override readonly exitCode = 3;
}

/** Well-formed but not supported: an algorithm, a key version, a gpg option. */
export class UnsupportedError extends MsError {
  override readonly exitCode = 3;
}

/** The machine is not as required: a missing tool, bad permissions, bad config. */
export class EnvironmentError extends MsError {
  override readonly exitCode = 4;
}

/** Might work later: network, lock held, database busy. */
export class TemporaryError extends MsError {
  override readonly exitCode = 5;
}

/** A packet or structure that cannot be parsed, with where it was found. */
export class MalformedPacketError extends InputError {
  constructor(message: string, readonly offset: number, readonly tag?: number, opts: { cause?: unknown } = {}) {
    super('MS_PGP_MALFORMED', `${message} (${tag === undefined ? 'packet' : `packet tag ${tag}`} at offset ${offset})`, {
      ...opts,
      data: { offset, tag },
    });
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
