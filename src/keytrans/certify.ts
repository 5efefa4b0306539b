/**
 * The self-signatures Monkeysphere writes, with exactly the subpackets and order of
 * the original pem2openpgp (and of GnuPG 2.2 with Monkeysphere's preferences): user ID
 * certifications, user ID and key revocations, designated-revoker signatures. Also
 * the usage-flag names of PEM2OPENPGP_USAGE_FLAGS. Pure: times are parameters.
 */
import type { KeyObject } from 'node:crypto';
import { UsageError } from '../errors.js';
import { HashAlg, PubKeyAlg } from '../openpgp/algorithms.js';
import { sp, signV4 } from '../openpgp/build.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { encodeOldPacket, type Packet, Tag } from '../openpgp/packets.js';
import { type Signature, SigType, SubpacketType } from '../openpgp/signature.js';

/** PEM2OPENPGP_USAGE_FLAGS names (RFC 9580 §5.2.3.29). */
export const USAGE_FLAGS: Readonly<Record<string, number>> = {
  certify: 0x01,
  sign: 0x02,
  encrypt_comms: 0x04,
  encrypt_storage: 0x08,
  encrypt: 0x0c,
  split: 0x10,
  authenticate: 0x20,
  shared: 0x80,
};

/**
 * Parses a comma-separated flag list such as `sign,certify`.
 * @throws UsageError (MS_KEYTRANS_FLAG) naming an unknown flag, like the original's "No such flag".
 */
export function parseUsageFlags(spec: string): number {
  let flags = 0;
  for (const name of spec.split(',')) {
    const bit = USAGE_FLAGS[name];
    if (bit === undefined) {
      throw new UsageError('MS_KEYTRANS_FLAG', `No such flag ${name}`, { hints: [`known flags: ${Object.keys(USAGE_FLAGS).join(', ')}`] });
    }
    flags |= bit;
  }
  return flags;
}

/** Names of the flags set in `flags`, in USAGE_FLAGS order (encrypt counted once as its parts). */
export function usageFlagNames(flags: number): string[] {
  return Object.entries(USAGE_FLAGS)
    .filter(([name, bit]) => name !== 'encrypt' && (flags & bit) === bit)
    .map(([name]) => name);
}

/** SHA-256, or the hash matching the curve for ECDSA P-384 and P-521. */
export function hashFor(key: KeyPacket): number {
  if (key.algorithm === PubKeyAlg.ECDSA && key.material.kind === 'ecc') {
    if (key.material.curve?.name === 'nistp384') return HashAlg.SHA384;
    if (key.material.curve?.name === 'nistp521') return HashAlg.SHA512;
  }
  return HashAlg.SHA256;
}

/** The preference subpackets, as the original writes them (AES256…3DES, SHA512…SHA1, ZLIB BZIP2 ZIP, MDC, no-modify). */
function preferenceSubpackets(): Buffer[] {
  return [
    sp.preferences(SubpacketType.PreferredSymmetric, [9, 8, 7, 3, 2]),
    sp.preferences(SubpacketType.PreferredHash, [10, 9, 8, 11, 3, 2]),
    sp.preferences(SubpacketType.PreferredCompression, [2, 3, 1]),
    sp.features(0x01),
    sp.keyServerNoModify(),
  ];
}

export interface Signer {
  /** The primary key's public packet. */
  key: KeyPacket;
  privateKey: KeyObject;
}

export interface UserIdSigOptions {
  /** Signature creation time, Unix seconds. */
  created: number;
  /** Key flags (default certify, the original's default). */
  flags?: number;
  /** Key expiration, seconds after the key's creation; absent: no expiry subpacket. */
  keyExpiresAfter?: number;
  /** Signature type: positive certification (0x13) unless told otherwise. */
  type?: number;
}

/** A user ID self-certification, subpackets in the original's order. */
export function userIdSelfSignature(signer: Signer, userId: Packet, opts: UserIdSigOptions): Signature {
  const hashed = [sp.issuerFingerprint(signer.key), sp.created(opts.created), sp.keyFlags(opts.flags ?? USAGE_FLAGS.certify)];
  if (opts.keyExpiresAfter !== undefined && opts.keyExpiresAfter > 0) hashed.push(sp.keyExpiresAfter(opts.keyExpiresAfter));
  hashed.push(...preferenceSubpackets());
  return signV4(
    { kind: 'user', primary: signer.key, user: userId },
    { type: opts.type ?? SigType.PositiveCert, signer: signer.key, privateKey: signer.privateKey, hashed, hashAlgorithm: hashFor(signer.key) },
  );
}

/** RFC 9580 §5.2.3.31 reason codes. */
export const RevocationReason = { None: 0, Superseded: 1, Compromised: 2, Retired: 3, UserIdInvalid: 32 } as const;

export interface RevocationOptions {
  created: number;
  reason: number;
  text: string;
}

/** A certification revocation (0x30) of a user ID. */
export function userIdRevocation(signer: Signer, userId: Packet, opts: RevocationOptions): Signature {
  return signV4(
    { kind: 'user', primary: signer.key, user: userId },
    {
      type: SigType.CertRevocation,
      signer: signer.key,
      privateKey: signer.privateKey,
      hashed: [sp.issuerFingerprint(signer.key), sp.created(opts.created), sp.reason(opts.reason, opts.text)],
      hashAlgorithm: hashFor(signer.key),
    },
  );
}

/** A key revocation (0x20), i.e. a revocation certificate. */
export function keyRevocation(signer: Signer, opts: RevocationOptions): Signature {
  return signV4(
    { kind: 'key', primary: signer.key },
    {
      type: SigType.KeyRevocation,
      signer: signer.key,
      privateKey: signer.privateKey,
      hashed: [sp.issuerFingerprint(signer.key), sp.created(opts.created), sp.reason(opts.reason, opts.text)],
      hashAlgorithm: hashFor(signer.key),
    },
  );
}

/** A direct-key signature (0x1F) naming a designated revoker, as gpg's addrevoker makes. */
export function designatedRevoker(signer: Signer, revoker: KeyPacket, opts: { created: number; sensitive?: boolean }): Signature {
  return signV4(
    { kind: 'key', primary: signer.key },
    {
      type: SigType.DirectKey,
      signer: signer.key,
      privateKey: signer.privateKey,
      hashed: [sp.issuerFingerprint(signer.key), sp.created(opts.created), sp.revocationKey(revoker, opts.sensitive), sp.revocable(false)],
      hashAlgorithm: hashFor(signer.key),
    },
  );
}

/** A packet re-encoded with an old-format header, as gpg 2.2 and the original write. */
export function oldFormat(packet: { tag: number; body: Buffer }): Buffer {
  return encodeOldPacket(packet.tag, packet.body);
}

/** The public key packet of a (secret) key, old-format header. */
export function publicKeyPacket(key: KeyPacket): Buffer {
  return encodeOldPacket(key.isSubkey ? Tag.PublicSubkey : Tag.PublicKey, key.publicBody);
}
