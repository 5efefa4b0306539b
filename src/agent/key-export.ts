/**
 * Exporting one secret key from gpg-agent, as the original agent-transfer: a session key
 * from `KEYWRAP_KEY --export`, the pinentry's text through `SETKEYDESC`, then
 * `EXPORT_KEY <keygrip>` (gpg-agent asks its pinentry for the passphrase), unwrapped
 * (RFC 3394) and parsed. Nothing is written anywhere; the key lives in memory only.
 */
import { EnvironmentError, InputError, MsError, NotFoundError } from '../errors.js';
import { type AssuanClient, assuanErrorData, percentPlusEscape } from './assuan.js';
import { aesKeyUnwrap } from './key-wrap.js';
import { type AgentSecretKey, parseAgentSecretKey } from './secret-key.js';

/** How long gpg-agent may take to answer EXPORT_KEY: the pinentry waits for a person. */
export const PINENTRY_TIMEOUT_MS = 10 * 60_000;

/** The pinentry description the original sends: with the comment when one was given. */
export function keyDescription(keygrip: string, comment?: string): string {
  return comment !== undefined
    ? `SETKEYDESC Sending+key+for+'${percentPlusEscape(comment)}'+from+gpg-agent+to+ssh-agent...%0a(keygrip:+${keygrip})`
    : `SETKEYDESC Sending+key+from+gpg-agent+to+ssh-agent...%0a(keygrip:+${keygrip})`;
}

/** An ERR answer reworded as the original printed it: `<what> (<gpg-error>), <text>`. */
function failed(err: unknown, what: string): unknown {
  const e = assuanErrorData(err);
  if (!e) return err;
  const message = `${what} (${e.gpgError}), ${e.gpgText}`;
  if (err instanceof NotFoundError) return new NotFoundError('MS_AGENT_NO_SECRET_KEY', message, { cause: err, data: { ...e }, hints: ['list the keygrips of your secret keys with: gpg --with-keygrip --list-secret-keys'] });
  return new EnvironmentError('MS_AGENT_GPG_AGENT_ERROR', message, { cause: err, data: { ...e } });
}

/**
 * The secret key of `keygrip` (40 hex digits), exported from gpg-agent.
 * @throws NotFoundError (MS_AGENT_NO_SECRET_KEY): gpg-agent has no such key;
 *   EnvironmentError (MS_AGENT_GPG_AGENT_ERROR): gpg-agent refused (cancelled, bad passphrase, a smartcard key…);
 *   InputError (MS_AGENT_KEY_MALFORMED), UnsupportedError (MS_AGENT_KEY_UNSUPPORTED): the key cannot go to ssh-agent
 */
export async function exportSecretKey(agent: AssuanClient, keygrip: string, comment?: string): Promise<AgentSecretKey> {
  let kek: Buffer;
  try {
    kek = await agent.transact('KEYWRAP_KEY --export', { maxData: 64 });
  } catch (err) {
    throw failed(err, 'failed to export keywrap key');
  }
  if (kek.length !== 16) throw new EnvironmentError('MS_AGENT_PROTOCOL', `wrong number of bytes in keywrap key (expected 16, got ${kek.length})`);
  try {
    await agent.transact(keyDescription(keygrip, comment));
  } catch (err) {
    throw failed(err, 'failed to set the description prompt');
  }
  let wrapped: Buffer;
  try {
    wrapped = await agent.transact(`EXPORT_KEY ${keygrip}`, { timeoutMs: PINENTRY_TIMEOUT_MS, maxData: 64 * 1024 });
  } catch (err) {
    throw failed(err, `failed to export secret key ${keygrip}`);
  }
  let plain: Buffer | undefined;
  try {
    plain = aesKeyUnwrap(kek, wrapped);
    // The parsed key holds copies: the plaintext S-expression is wiped below.
    return parseAgentSecretKey(plain);
  } catch (err) {
    if (err instanceof InputError) throw new InputError('MS_AGENT_KEY_MALFORMED', `failed to unwrap secret key: ${err.message}`, { cause: err });
    if (err instanceof MsError) throw err;
    throw new InputError('MS_AGENT_KEY_MALFORMED', `failed to unwrap secret key: ${String(err)}`, { cause: err });
  } finally {
    plain?.fill(0);
    kek.fill(0);
  }
}
