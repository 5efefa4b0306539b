/**
 * Loading a private key that may need a passphrase: from a passphrase file (an option,
 * then an environment variable), else asked through a callback the command supplies
 * (library code never prompts itself).
 */
import { readFileSync } from 'node:fs';
import { EnvironmentError } from '../errors.js';
import { type LoadedPrivateKey, PassphraseRequiredError, parsePrivateKey } from '../ssh/index.js';

/** Reads a passphrase file: its first line, without the newline. @throws EnvironmentError (MS_PASSPHRASE_FILE) */
export function readPassphraseFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/)[0];
  } catch (err) {
    throw new EnvironmentError('MS_PASSPHRASE_FILE', `cannot read passphrase file ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err });
  }
}

export interface PassphraseSources {
  /** --passphrase-file */
  file?: string;
  /** Environment variable naming a passphrase file (e.g. PEM2OPENPGP_PASSPHRASE_FILE). */
  envFile?: string;
  /** Asks for the passphrase (undefined: cannot or would not); absent when asking is not allowed. */
  ask?: (prompt: string) => Promise<string | undefined>;
}

/**
 * Parses a private key, finding its passphrase if it needs one: a passphrase file from
 * the option, then from the environment, then `ask`.
 * @throws PassphraseRequiredError when it is encrypted and no passphrase could be had.
 */
export async function loadPrivateKeyWithPassphrase(data: Buffer, source: string, from: PassphraseSources): Promise<LoadedPrivateKey> {
  const file = from.file ?? from.envFile;
  if (file !== undefined) return parsePrivateKey(data, { source, passphrase: readPassphraseFile(file) });
  try {
    return parsePrivateKey(data, { source });
  } catch (err) {
    if (!(err instanceof PassphraseRequiredError) || !from.ask) throw err;
    const passphrase = await from.ask(`Enter passphrase for ${source}: `);
    if (passphrase === undefined) throw err;
    return parsePrivateKey(data, { source, passphrase });
  }
}
