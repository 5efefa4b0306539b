/**
 * The HTTP face's errors (docs/errors.md, `MS_HKP_*`) and the one function mapping any error
 * to an HTTP status, as docs/design/keyserver.md tabulates it.
 */
import { EnvironmentError, InputError, MsError, NotFoundError, TemporaryError, UnsupportedError, UsageError } from '../errors.js';

export function badQuery(message: string, data: Record<string, unknown> = {}): UsageError {
  return new UsageError('MS_HKP_BAD_QUERY', message, { data });
}

export function notFound(message: string): NotFoundError {
  return new NotFoundError('MS_HKP_NOT_FOUND', message);
}

export function bodyTooLarge(limit: number): InputError {
  return new InputError('MS_HKP_TOO_LARGE', `request body over the limit of ${limit} bytes`, { data: { limit }, hints: ['upload fewer or smaller certificates'] });
}

export function rateLimited(retryAfter: number): TemporaryError {
  return new TemporaryError('MS_HKP_RATE_LIMITED', `too many requests; try again in ${retryAfter} s`, { data: { retryAfter } });
}

/** An upload whose every certificate the ingest policy rejected (nothing of it can be served). */
export function nothingUsable(fprs: string[]): InputError {
  return new InputError('MS_HKP_REJECTED', `nothing of the upload can be served: ${fprs.join(', ')} ha${fprs.length === 1 ? 's' : 've'} no user ID or subkey with a good self-signature, and no revocation`, {
    data: { fprs },
    hints: ['upload the output of gpg --export --armor KEYID'],
  });
}

export function unsupported(message: string): UnsupportedError {
  return new UnsupportedError('MS_HKP_UNSUPPORTED', message);
}

/** Codes of malformed queries thrown by the layers below (key IDs, empty searches). */
const QUERY_CODES = new Set(['MS_HKP_BAD_QUERY', 'MS_PGP_KEYID', 'MS_PGP_FINGERPRINT', 'MS_STORE_KEYID', 'MS_STORE_SEARCH']);

/** The HTTP status for an error: the one place where errors become statuses. */
export function statusFor(err: unknown): number {
  if (!(err instanceof MsError)) return 500;
  if (err.code === 'MS_HKP_TOO_LARGE' || err.code === 'MS_KS_TOO_LARGE') return 413;
  if (err.code === 'MS_HKP_RATE_LIMITED' || err.code === 'MS_KS_RATE_LIMITED') return 429;
  if (QUERY_CODES.has(err.code) || err instanceof UsageError) return 400;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof UnsupportedError) return 501;
  // Anything else wrong with the input is an upload that could not be used.
  if (err instanceof InputError) return 422;
  if (err instanceof TemporaryError || err instanceof EnvironmentError) return 503;
  return 500;
}
