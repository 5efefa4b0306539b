/**
 * The changes monkeysphere-host makes to a host certificate, as pure functions of the
 * stored secret certificate and the reference time `now` (Unix seconds): new service
 * names, their revocation, expiry, designated revokers, revocation certificates.
 * Every new self-signature is dated after the certificate's newest one, so it takes
 * precedence even when the clock has not moved (GnuPG does the same).
 */
import type { KeyObject } from 'node:crypto';
import { evaluateCerts } from '../cert/evaluate.js';
import type { EvaluatedCert } from '../cert/types.js';
import { InputError, MsError, NotFoundError, UnsupportedError, UsageError } from '../errors.js';
import { Keyring } from '../keyring/keyring.js';
import {
  designatedRevoker,
  keyRevocation,
  oldFormat,
  pem2openpgp,
  privateKeyFromPacket,
  publicKeyPacket,
  type Signer,
  USAGE_FLAGS,
  userIdRevocation,
  userIdSelfSignature,
  USERID_REVOCATION_TEXT,
  RevocationReason,
} from '../keytrans/index.js';
import { userIdPacket } from '../openpgp/build.js';
import { type Cert, readCerts, userIds, writeCert } from '../openpgp/cert.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { mergeCerts } from '../openpgp/merge.js';
import type { Signature } from '../openpgp/signature.js';
import { issuedBy } from '../cert/evaluate.js';
import { Verifier } from '../verify/verifier.js';

/** Evaluates a (secret or public) host certificate on its own at `now`. */
export async function evaluateHostCert(cert: Cert, now: number, keyring: Keyring = new Keyring([cert])): Promise<EvaluatedCert> {
  const [ev] = await evaluateCerts([cert], keyring, { now, verifier: new Verifier() });
  return ev;
}

export function signerFor(cert: Cert): Signer {
  return { key: cert.primary, privateKey: privateKeyFromPacket(cert.primary) };
}

/** `now`, or one second after the newest self-signature when that is not earlier. */
export function nextSignatureTime(cert: Cert, now: number): number {
  let latest = cert.primary.created;
  const all = [...cert.directSigs, ...cert.users.flatMap((u) => u.signatures)];
  for (const e of all) if (e.sig && issuedBy(e.sig, cert.primary) && e.sig.created > latest) latest = e.sig.created;
  const hasSelfSig = all.some((e) => e.sig && issuedBy(e.sig, cert.primary));
  return hasSelfSig ? Math.max(now, latest + 1) : Math.max(now, latest);
}

function single(bytes: Buffer, what: string): Cert {
  const { certs, problems } = readCerts(bytes);
  if (certs.length !== 1 || problems.length > 0) throw new MsError('MS_HOST_INTERNAL', `${what}: rebuilt certificate did not parse`, { cause: problems[0] });
  return certs[0];
}

/** Adds signatures to an existing user ID (or to the key when `userId` is undefined). */
function withSignatures(cert: Cert, sigs: Signature[], userId?: string): Cert {
  const user = userId === undefined ? undefined : userIds(cert).find((u) => u.text === userId);
  if (userId !== undefined && !user) throw new MsError('MS_HOST_INTERNAL', `no user ID ${JSON.stringify(userId)}`);
  const parts = [publicKeyPacket(cert.primary)];
  if (user) parts.push(oldFormat(user.packet));
  parts.push(...sigs.map((s) => oldFormat(s.packet)));
  const addition = single(Buffer.concat(parts), 'signature');
  return single(writeCert(mergeCerts(cert, addition)), 'merge');
}

/** Flags and key lifetime the new self-signatures carry over: the key's current ones. */
function currentBinding(ev: EvaluatedCert): { flags: number; keyExpiresAfter?: number } {
  const newestValid = ev.userIds
    .filter((u) => u.status === 'valid' && u.selfSig)
    .map((u) => u.selfSig!)
    .sort((a, b) => b.created - a.created)[0];
  const flags = newestValid?.keyFlags || USAGE_FLAGS.authenticate;
  const keyExpiresAfter = ev.primary.expires !== undefined ? ev.primary.expires - ev.primary.key.created : undefined;
  return { flags, keyExpiresAfter };
}

/**
 * A new host certificate: the service key as primary, created now, one user ID, flags
 * authenticate, no expiry (the original's `PEM2OPENPGP_USAGE_FLAGS=authenticate pem2openpgp`).
 */
export function newHostCert(privateKey: KeyObject, serviceName: string, now: number, keyTime?: number): Cert {
  const { bytes } = pem2openpgp(privateKey, { userId: serviceName, sigTime: now, keyTime, flags: USAGE_FLAGS.authenticate });
  return single(bytes, 'import');
}

/**
 * A host certificate from an OpenPGP transferable secret key (e.g. the original's
 * GnuPG host keyring, exported), kept as it is.
 * @throws InputError (MS_HOST_NOT_SECRET) unless the input holds exactly one unprotected secret key.
 */
export function hostCertFromOpenPgp(bytes: Buffer): Cert {
  const { certs } = readCerts(bytes);
  if (certs.length !== 1 || !certs[0].secret) {
    throw new InputError('MS_HOST_NOT_SECRET', 'the OpenPGP input must hold exactly one secret key', {
      hints: ['export it with: gpg --homedir /var/lib/monkeysphere/host --export-secret-keys FPR'],
    });
  }
  privateKeyFromPacket(certs[0].primary);
  return certs[0];
}

/**
 * Adds a service name with a self-certification carrying the key's current flags and
 * expiry. A service name that was revoked is certified again.
 * @throws UsageError (MS_HOST_NAME_EXISTS) when the key already has it, valid.
 */
export async function addServiceName(cert: Cert, name: string, now: number): Promise<Cert> {
  const ev = await evaluateHostCert(cert, now);
  const existing = ev.userIds.find((u) => u.text === name);
  if (existing && existing.status === 'valid') {
    throw new UsageError('MS_HOST_NAME_EXISTS', `Service name ${JSON.stringify(name)} already exists on key ${cert.primary.fpr}.`);
  }
  const signer = signerFor(cert);
  const created = nextSignatureTime(cert, now);
  const binding = currentBinding(ev);
  if (existing) {
    const sig = userIdSelfSignature(signer, existing.component.packet, { created, ...binding });
    return withSignatures(cert, [sig], name);
  }
  const uid = userIdPacket(name);
  const sig = userIdSelfSignature(signer, uid, { created, ...binding });
  return single(Buffer.concat([writeCert(cert), oldFormat(uid), oldFormat(sig.packet)]), 'add service name');
}

/**
 * Revokes a service name (reason 32, "No longer using this hostname").
 * @throws NotFoundError (MS_HOST_NAME_NOT_FOUND) when no valid user ID has that name.
 */
export async function revokeServiceName(cert: Cert, name: string, now: number): Promise<Cert> {
  const ev = await evaluateHostCert(cert, now);
  const existing = ev.userIds.find((u) => u.text === name && u.status !== 'revoked');
  if (!existing) throw new NotFoundError('MS_HOST_NAME_NOT_FOUND', `No non-revoked service name found matching ${JSON.stringify(name)}.`);
  const sig = userIdRevocation(signerFor(cert), existing.component.packet, {
    created: nextSignatureTime(cert, now),
    reason: RevocationReason.UserIdInvalid,
    text: USERID_REVOCATION_TEXT,
  });
  return withSignatures(cert, [sig], name);
}

/**
 * Sets when the key expires (Unix seconds; undefined: never) by re-certifying every
 * service name that is not revoked.
 * @throws UsageError (MS_HOST_EXPIRY) for a time not after the key's creation;
 *         NotFoundError (MS_HOST_NO_NAME) when no service name is left to certify.
 */
export async function setExpiry(cert: Cert, expiresAt: number | undefined, now: number): Promise<Cert> {
  if (expiresAt !== undefined && expiresAt <= cert.primary.created) {
    throw new UsageError('MS_HOST_EXPIRY', 'the expiry must be after the key was created');
  }
  const ev = await evaluateHostCert(cert, now);
  const live = ev.userIds.filter((u) => u.status !== 'revoked' && u.component.kind === 'userid');
  if (live.length === 0) throw new NotFoundError('MS_HOST_NO_NAME', `key ${cert.primary.fpr} has no service name that is not revoked`);
  const signer = signerFor(cert);
  const created = nextSignatureTime(cert, now);
  const { flags } = currentBinding(ev);
  let out = cert;
  for (const u of live) {
    const sig = userIdSelfSignature(signer, u.component.packet, {
      created,
      flags: u.selfSig?.keyFlags || flags,
      keyExpiresAfter: expiresAt === undefined ? undefined : expiresAt - cert.primary.created,
    });
    out = withSignatures(out, [sig], u.text);
  }
  return out;
}

/**
 * Names `revoker` as a designated revoker (a direct-key signature, as gpg's addrevoker).
 * @throws UnsupportedError (MS_HOST_REVOKER_VERSION) for a v6 revoker key, which RFC 9580 gives no revocation-key form;
 *         UsageError (MS_HOST_REVOKER_SELF, MS_HOST_REVOKER_EXISTS).
 */
export async function addRevoker(cert: Cert, revoker: KeyPacket, now: number, sensitive = false): Promise<Cert> {
  if (revoker.version !== 4) throw new UnsupportedError('MS_HOST_REVOKER_VERSION', `revoker ${revoker.fpr} is a v${revoker.version} key; only v4 keys can be designated revokers`);
  if (revoker.fpr === cert.primary.fpr) throw new UsageError('MS_HOST_REVOKER_SELF', 'a key cannot be its own designated revoker');
  const ev = await evaluateHostCert(cert, now);
  if (ev.primary.revokers.some((r) => r.fingerprint === revoker.fpr)) {
    throw new UsageError('MS_HOST_REVOKER_EXISTS', `${revoker.fpr} is already a revoker of key ${cert.primary.fpr}`);
  }
  const sig = designatedRevoker(signerFor(cert), revoker, { created: nextSignatureTime(cert, now), sensitive });
  return withSignatures(cert, [sig]);
}

/** gpg --gen-revoke's reasons, by its menu number: 0 none, 1 compromised, 2 superseded, 3 no longer used. */
export const MENU_REASONS: readonly number[] = [RevocationReason.None, RevocationReason.Compromised, RevocationReason.Superseded, RevocationReason.Retired];

/** A key revocation signature (not stored: revoke-key only prints it). */
export function revocationSignature(cert: Cert, reason: number, text: string, now: number): Signature {
  return keyRevocation(signerFor(cert), { created: nextSignatureTime(cert, now), reason, text });
}

/** The public certificate with a revocation signature merged in (what publishing a revocation sends). */
export function withRevocation(publicCert: Cert, revocation: Signature): Cert {
  return single(writeCert(mergeCerts(publicCert, single(Buffer.concat([publicKeyPacket(publicCert.primary), oldFormat(revocation.packet)]), 'revocation'))), 'revocation');
}

/** The revocation's description when none is given: the original's `date '+%F_%T%z'`, in UTC. */
export function defaultRevocationText(now: number): string {
  const iso = new Date(now * 1000).toISOString();
  return `Monkeysphere host key revocation (automated) ${iso.slice(0, 10)}_${iso.slice(11, 19)}+0000`;
}
