/**
 * Finding the key to name as a host key's designated revoker: exactly one certificate
 * from a file, or the one a keyserver returns for a key ID or fingerprint (v4 or v6).
 * A keyserver is not an authority: only a certificate whose primary key is the one asked
 * for is taken.
 */
import { InputError, NotFoundError, UsageError } from '../errors.js';
import { dearmor } from '../openpgp/armor.js';
import { type Cert, readCerts } from '../openpgp/cert.js';
import { type KeySpec, parseKeySpec, specMatches } from '../openpgp/fingerprint.js';
import type { HostKeyserver } from './keyserver.js';

/** A revoker named by key ID or fingerprint. */
export type RevokerId = Extract<KeySpec, { kind: 'keyid' | 'fingerprint' }>;

/**
 * Parses a revoker named on the command line.
 * @throws UsageError (MS_HOST_REVOKER) when it is neither a 16-digit key ID nor a fingerprint.
 */
export function parseRevokerId(spec: string): RevokerId {
  let parsed: KeySpec | undefined;
  try {
    parsed = parseKeySpec(spec);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
  }
  if (parsed?.kind === 'keyid' || parsed?.kind === 'fingerprint') return parsed;
  throw new UsageError('MS_HOST_REVOKER', `${JSON.stringify(spec)} is neither a file nor a key ID`, {
    hints: ['give the revoker as a 16-digit key ID or a 40-digit fingerprint, a file, or - for stdin'],
  });
}

/** The hex digits of a revoker ID, as messages name it. */
export function revokerIdText(id: RevokerId): string {
  return id.kind === 'fingerprint' ? id.fpr : id.keyId;
}

/**
 * The one certificate in `bytes` (armored or binary).
 * @throws InputError (MS_HOST_REVOKER_FILE) when there is not exactly one.
 */
export function revokerFromBytes(bytes: Buffer, what: string): Cert {
  const { certs } = readCerts(dearmor(bytes));
  if (certs.length !== 1) throw new InputError('MS_HOST_REVOKER_FILE', `${what} must contain exactly one key (found ${certs.length})`);
  return certs[0];
}

/**
 * The revoker's certificate from the keyserver.
 * @throws NotFoundError (MS_HOST_REVOKER_NOT_FOUND) unless exactly one returned certificate has that primary key.
 */
export async function fetchRevoker(ks: HostKeyserver, id: RevokerId, keyserverName: string): Promise<Cert> {
  const text = revokerIdText(id);
  const result = id.kind === 'fingerprint' ? await ks.getByFingerprint(id.fpr) : await ks.getByKeyId(id.keyId);
  const matching = result.certs.filter((c) => specMatches(id, c.primary.fpr));
  if (matching.length !== 1) {
    throw new NotFoundError('MS_HOST_REVOKER_NOT_FOUND', `Could not find key '${text}' on keyserver ${keyserverName} (${matching.length} matching keys).`);
  }
  return matching[0];
}
