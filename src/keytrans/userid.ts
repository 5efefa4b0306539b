/**
 * The hidden keytrans verbs that change user IDs: `adduserid` (a new user ID with a
 * self-certification) and `revokeuserid` (a certification revocation). Each reads a
 * transferable secret key and writes only the packets to merge into the certificate
 * (public key, user ID, signatures), as the original did for `gpg --import`.
 */
import { InputError, NotFoundError, UsageError } from '../errors.js';
import { dearmor } from '../openpgp/armor.js';
import { type Cert, readCerts, userIds } from '../openpgp/cert.js';
import { userIdPacket } from '../openpgp/build.js';
import { oldFormat, publicKeyPacket, RevocationReason, type Signer, userIdRevocation, userIdSelfSignature } from './certify.js';
import type { KeyRef } from './key-ref.js';
import { privateKeyFromPacket } from './secret-key.js';

export interface SecretCert {
  cert: Cert;
  signer: Signer;
}

/**
 * The one secret certificate in `input` whose primary key `ref` names.
 * @throws NotFoundError (MS_KEYTRANS_NO_MATCH), UsageError (MS_KEYTRANS_AMBIGUOUS),
 *         InputError when its secret key cannot be used.
 */
export function loadSecretCert(input: Buffer, ref: KeyRef): SecretCert {
  const { certs } = readCerts(dearmor(input));
  const matching = certs.filter((c) => c.secret && ref.matches(c.primary.fpr));
  if (matching.length > 1) throw new UsageError('MS_KEYTRANS_AMBIGUOUS', 'Found two matching keys.');
  const cert = matching[0];
  if (!cert) throw new NotFoundError('MS_KEYTRANS_NO_MATCH', `no secret key matching ${JSON.stringify(ref.hex)} found`);
  return { cert, signer: { key: cert.primary, privateKey: privateKeyFromPacket(cert.primary) } };
}

export interface AddUserIdOptions {
  created: number;
  flags?: number;
  keyExpiresAfter?: number;
}

/**
 * Packets adding `userId`: public key, user ID, self-certification.
 * @throws InputError (MS_KEYTRANS_UID_EXISTS) when the user ID is already there with signatures.
 */
export function addUserId(sc: SecretCert, userId: string, opts: AddUserIdOptions): Buffer {
  const existing = userIds(sc.cert).find((u) => u.text === userId);
  if (existing && existing.signatures.length > 0) {
    throw new InputError('MS_KEYTRANS_UID_EXISTS', `user ID ${JSON.stringify(userId)} already exists on key ${sc.cert.primary.fpr}`);
  }
  const uid = userIdPacket(userId);
  const sig = userIdSelfSignature(sc.signer, uid, opts);
  return Buffer.concat([publicKeyPacket(sc.cert.primary), oldFormat(uid), oldFormat(sig.packet)]);
}

/** The text the original puts in a user ID revocation. */
export const USERID_REVOCATION_TEXT = 'No longer using this hostname';

/**
 * Packets revoking `userId`: public key, user ID, its existing signatures, and a
 * certification revocation (reason 32, "No longer using this hostname").
 * @throws NotFoundError (MS_KEYTRANS_NO_UID) when the key has no such user ID.
 */
export function revokeUserId(sc: SecretCert, userId: string, opts: { created: number; text?: string }): Buffer {
  const existing = userIds(sc.cert).find((u) => u.text === userId);
  if (!existing) throw new NotFoundError('MS_KEYTRANS_NO_UID', `key ${sc.cert.primary.fpr} has no user ID ${JSON.stringify(userId)}`);
  const rev = userIdRevocation(sc.signer, existing.packet, {
    created: opts.created,
    reason: RevocationReason.UserIdInvalid,
    text: opts.text ?? USERID_REVOCATION_TEXT,
  });
  return Buffer.concat([
    publicKeyPacket(sc.cert.primary),
    oldFormat(existing.packet),
    ...existing.signatures.map((s) => oldFormat(s.packet)),
    oldFormat(rev.packet),
  ]);
}
