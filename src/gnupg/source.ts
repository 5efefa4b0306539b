/**
 * Certificate sources: what a web of trust is computed from, named by a digest of their
 * content so that a stored result can be reused without reading the certificates.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errorMessage, InputError } from '../errors.js';
import { dearmor } from '../openpgp/armor.js';

/** Certificates to read, named for messages. */
export interface CertSource {
  name: string;
  /**
   * Names the content: equal digests promise equal bytes (SHA-256 of them, or of what they are
   * made from). May change when bytes() finds the content changed meanwhile.
   */
  digest: Buffer;
  /** The certificates as binary packets (dearmored); asked for only when packets must be parsed. */
  bytes(): Buffer;
}

/** A source whose bytes are already in hand. */
export function sourceOf(name: string, bytes: Buffer): CertSource {
  return { name, digest: createHash('sha256').update(bytes).digest(), bytes: () => bytes };
}

/**
 * Reads an input file whole.
 * @throws InputError (MS_WOT_READ) naming `what` and the path.
 */
export function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InputError('MS_WOT_READ', `cannot read ${what} ${JSON.stringify(path)}: ${errorMessage(err)}`, { cause: err });
  }
}

/** A keyring file, armored or binary. */
export function keyringSource(path: string): CertSource {
  return sourceOf(path, dearmor(readInput(path, 'keyring')));
}
