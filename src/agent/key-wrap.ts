/**
 * AES key unwrap (RFC 3394 §2.2.2), as gpg-agent's EXPORT_KEY wraps a secret key with the
 * session key KEYWRAP_KEY --export gave. node:crypto's id-aes128-wrap cipher does the
 * work and checks the integrity value.
 */
import { createDecipheriv } from 'node:crypto';
import { InputError } from '../errors.js';

/** The RFC 3394 default initial value; the cipher checks the unwrapped value against it. */
const DEFAULT_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

/**
 * Unwraps `wrapped` with the 16-byte key-encryption key; the result is 8 bytes shorter.
 * @throws InputError (MS_AGENT_KEY_MALFORMED) for a bad length or a failed integrity check.
 */
export function aesKeyUnwrap(kek: Buffer, wrapped: Buffer): Buffer {
  if (kek.length !== 16) throw new InputError('MS_AGENT_KEY_MALFORMED', `wrong number of bytes in keywrap key (expected 16, got ${kek.length})`);
  if (wrapped.length < 24 || wrapped.length % 8 !== 0) {
    throw new InputError('MS_AGENT_KEY_MALFORMED', `wrapped key of ${wrapped.length} bytes is not a multiple of 8 of at least 24`);
  }
  try {
    const d = createDecipheriv('id-aes128-wrap', kek, DEFAULT_IV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch (err) {
    throw new InputError('MS_AGENT_KEY_MALFORMED', 'the wrapped key does not unwrap (integrity check failed)', { cause: err });
  }
}
