/**
 * The deprecated `monkeysphere sshfpr KEYID`: the SSH fingerprint line of one OpenPGP key,
 * as 0.43 printed it through `gpg --export-ssh-key` and `ssh-keygen -l` (`BITS SHA256:… . (TYPE)`).
 */
import { runGpg } from '../gnupg/gpg.js';
import type { Env } from '../config/config.js';
import { InputError } from '../errors.js';
import { formatFingerprintLine } from '../ssh/public-key.js';

/** @throws InputError (MS_USER_KEY_ID) for something that is not a key ID; EnvironmentError (MS_WOT_GPG) when gpg has no such key. */
export function sshFingerprintOfKey(gnupgHome: string, env: Env, keyId: string): string {
  const id = keyId.replace(/^0x/i, '');
  if (!/^[0-9A-Fa-f]{8,40}$/.test(id)) throw new InputError('MS_USER_KEY_ID', `not a key ID or fingerprint: ${JSON.stringify(keyId)}`);
  const line = runGpg(env, gnupgHome, ['--export-ssh-key', `0x${id}!`]).toString('utf8').trim();
  return formatFingerprintLine(Buffer.from(line.split(' ')[1] ?? '', 'base64'), '.');
}
