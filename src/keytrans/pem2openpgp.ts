/**
 * pem2openpgp: a private key (RSA, Ed25519 or NIST ECDSA) and a user ID become an
 * OpenPGP transferable secret key, in exactly the original's layout: old-format
 * headers; a v4 secret-key packet (unprotected, with checksum); the user ID; a positive
 * self-certification (issuer fingerprint, creation, flags, [key expiry], preferences,
 * features, keyserver no-modify; unhashed issuer). Ed25519 is written as legacy EdDSA
 * (algorithm 22) so GnuPG 2.2 reads it. No public-key packet, no subkeys.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { UsageError } from '../errors.js';
import { keyPacketFor, secretKeyBody, userIdPacket } from '../openpgp/build.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { encodeOldPacket, Tag } from '../openpgp/packets.js';
import { oldFormat, parseUsageFlags, USAGE_FLAGS, userIdSelfSignature } from './certify.js';

export interface Pem2OpenPgpOptions {
  userId: string;
  /** Signature time, Unix seconds (PEM2OPENPGP_TIMESTAMP). */
  sigTime: number;
  /** Key creation time (PEM2OPENPGP_KEY_TIMESTAMP); default the signature time, never later. */
  keyTime?: number;
  /** Key flags (PEM2OPENPGP_USAGE_FLAGS); default certify. */
  flags?: number;
  /** Seconds after creation when the key expires (PEM2OPENPGP_EXPIRATION); default never. */
  expiration?: number;
}

export interface Pem2OpenPgpResult {
  /** The packets, ready to write out (or for `gpg --import`). */
  bytes: Buffer;
  /** The key's public packet (its fingerprint names the new certificate). */
  key: KeyPacket;
}

/**
 * Builds the certificate.
 * @throws UsageError (MS_KEYTRANS_TIME) when the key time is later than the signature time;
 *         UsageError (MS_KEYTRANS_NO_UID) for an empty user ID;
 *         UnsupportedError for keys other than RSA, Ed25519 and NIST ECDSA.
 */
export function pem2openpgp(privateKey: KeyObject, opts: Pem2OpenPgpOptions): Pem2OpenPgpResult {
  if (opts.userId === '') throw new UsageError('MS_KEYTRANS_NO_UID', 'You must specify a user ID string.');
  const keyTime = opts.keyTime ?? opts.sigTime;
  if (keyTime > opts.sigTime) {
    throw new UsageError('MS_KEYTRANS_TIME', 'key timestamp must not be later than signature timestamp', { data: { keyTime, sigTime: opts.sigTime } });
  }
  const key = keyPacketFor(privateKey, keyTime);
  const uid = userIdPacket(opts.userId);
  const sig = userIdSelfSignature({ key, privateKey }, uid, {
    created: opts.sigTime,
    flags: opts.flags ?? USAGE_FLAGS.certify,
    keyExpiresAfter: opts.expiration,
  });
  const bytes = Buffer.concat([encodeOldPacket(Tag.SecretKey, secretKeyBody(privateKey, keyTime)), oldFormat(uid), oldFormat(sig.packet)]);
  return { bytes, key };
}

/** What the PEM2OPENPGP_* variables ask for. */
export interface Pem2OpenPgpEnv {
  sigTime?: number;
  keyTime?: number;
  flags?: number;
  expiration?: number;
  /** PEM2OPENPGP_NEWKEY: an RSA size in bits (≥ 2048), or `ed25519`. */
  newKey?: { type: 'rsa'; bits: number } | { type: 'ed25519' };
}

function unixTime(name: string, value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new UsageError('MS_KEYTRANS_ENV', `${name} must be a Unix time in seconds, not ${JSON.stringify(value)}`);
  return Number(value.trim());
}

/**
 * Reads PEM2OPENPGP_TIMESTAMP, PEM2OPENPGP_KEY_TIMESTAMP, PEM2OPENPGP_USAGE_FLAGS,
 * PEM2OPENPGP_EXPIRATION and PEM2OPENPGP_NEWKEY. Unset or empty variables are absent.
 * @throws UsageError (MS_KEYTRANS_ENV, MS_KEYTRANS_FLAG) for values that do not parse.
 */
export function pem2openpgpEnv(env: Readonly<Record<string, string | undefined>>): Pem2OpenPgpEnv {
  const get = (n: string) => (env[n] === undefined || env[n] === '' ? undefined : env[n]);
  const out: Pem2OpenPgpEnv = {};
  const ts = get('PEM2OPENPGP_TIMESTAMP');
  if (ts !== undefined) out.sigTime = unixTime('PEM2OPENPGP_TIMESTAMP', ts);
  const kts = get('PEM2OPENPGP_KEY_TIMESTAMP');
  if (kts !== undefined) out.keyTime = unixTime('PEM2OPENPGP_KEY_TIMESTAMP', kts);
  const flags = get('PEM2OPENPGP_USAGE_FLAGS');
  if (flags !== undefined) out.flags = parseUsageFlags(flags);
  const exp = get('PEM2OPENPGP_EXPIRATION');
  if (exp !== undefined) out.expiration = unixTime('PEM2OPENPGP_EXPIRATION', exp);
  const nk = get('PEM2OPENPGP_NEWKEY');
  if (nk !== undefined) {
    if (nk.toLowerCase() === 'ed25519') out.newKey = { type: 'ed25519' };
    else if (/^\d+$/.test(nk) && Number(nk) >= 2048 && Number(nk) <= 16384) out.newKey = { type: 'rsa', bits: Number(nk) };
    else throw new UsageError('MS_KEYTRANS_ENV', `PEM2OPENPGP_NEWKEY must be an RSA key size of at least 2048 bits, or ed25519; not ${JSON.stringify(nk)}`);
  }
  return out;
}

/** A fresh key for PEM2OPENPGP_NEWKEY. */
export function generateKey(spec: NonNullable<Pem2OpenPgpEnv['newKey']>): KeyObject {
  if (spec.type === 'ed25519') return generateKeyPairSync('ed25519').privateKey;
  return generateKeyPairSync('rsa', { modulusLength: spec.bits, publicExponent: 65537 }).privateKey;
}

