/**
 * The keyserver service's errors (docs/errors.md, `MS_KS_*`). The HTTP layer maps them by code:
 * MS_KS_UNPARSEABLE → 422, MS_KS_TOO_LARGE → 413, MS_KS_RATE_LIMITED → 429.
 */
import { EnvironmentError, InputError, TemporaryError } from '../errors.js';

/** The upload holds nothing the server can take (no certificate, no revocation of a stored key). */
export function unparseable(message: string, cause?: unknown): InputError {
  return new InputError('MS_KS_UNPARSEABLE', message, {
    cause,
    hints: ['upload the output of gpg --export --armor KEYID'],
  });
}

/** The upload is over a size cap (`what`: the cap's name, for the message). */
export function tooLarge(message: string, data: Record<string, unknown>): InputError {
  return new InputError('MS_KS_TOO_LARGE', message, { data, hints: ['upload fewer or smaller certificates'] });
}

/** Over a rate limit; `retryAfter` in seconds. */
export function rateLimited(message: string, retryAfter: number, data: Record<string, unknown> = {}): TemporaryError {
  return new TemporaryError('MS_KS_RATE_LIMITED', message, { data: { ...data, retryAfter }, hints: [`try again in ${retryAfter} s`] });
}

export function importIo(path: string, cause: unknown): EnvironmentError {
  return new EnvironmentError('MS_KS_IMPORT_IO', `cannot read ${JSON.stringify(path)}: ${(cause as Error)?.message ?? String(cause)}`, {
    cause,
    data: { path },
  });
}

export function dumpIo(path: string, cause: unknown): EnvironmentError {
  return new EnvironmentError('MS_KS_DUMP_IO', `cannot write ${JSON.stringify(path)}: ${(cause as Error)?.message ?? String(cause)}`, {
    cause,
    data: { path },
  });
}
