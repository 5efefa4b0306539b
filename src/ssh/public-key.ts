/**
 * SSH public keys (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4): the wire blob, the
 * one-line `type base64 [comment]` form and SHA256 fingerprints as ssh-keygen prints
 * them, converted to and from node:crypto KeyObjects. RSA, Ed25519 and ECDSA over
 * NIST P-256/384/521; DSA is recognised only to be refused.
 */
import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { InputError, UnsupportedError } from '../errors.js';
import { publicKeyMaterial } from '../util/key-material.js';
import { SshReader, sshMpint, sshString } from './wire.js';

export type SshKeyType = 'ssh-rsa' | 'ssh-ed25519' | 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521';

/** SSH curve identifier ↔ JWK curve name and coordinate size. */
export const SSH_CURVES = {
  nistp256: { jwk: 'P-256', size: 32 },
  nistp384: { jwk: 'P-384', size: 48 },
  nistp521: { jwk: 'P-521', size: 66 },
} as const;
export type SshCurve = keyof typeof SSH_CURVES;

export function sshCurveForJwk(crv: string | undefined): SshCurve | undefined {
  return (Object.keys(SSH_CURVES) as SshCurve[]).find((c) => SSH_CURVES[c].jwk === crv);
}

export interface SshPublicKey {
  type: SshKeyType;
  /** The wire-format public key, which the base64 in a key line encodes. */
  blob: Buffer;
  /** The comment after the key, if any. */
  comment: string;
}

const b64u = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

/** The error for a DSA key, wherever one turns up. */
export function dsaNotSupported(): UnsupportedError {
  return new UnsupportedError('MS_SSH_KEY_DSA', 'DSA keys are not supported', {
    hints: ['OpenSSH removed DSA; use an RSA, Ed25519 or ECDSA key instead'],
  });
}

/**
 * The wire blob of a node:crypto key (public or private).
 * @throws UnsupportedError (MS_SSH_KEY_DSA, MS_SSH_KEY_ALGORITHM) for other key types.
 */
export function sshBlobFromKeyObject(key: KeyObject): Buffer {
  const type = key.asymmetricKeyType;
  if (type === 'dsa') throw dsaNotSupported();
  const m = publicKeyMaterial(key);
  if (m.type === 'rsa') return Buffer.concat([sshString('ssh-rsa'), sshMpint(m.e), sshMpint(m.n)]);
  if (m.type === 'ed25519') return Buffer.concat([sshString('ssh-ed25519'), sshString(m.a)]);
  const curve = m.type === 'ec' ? sshCurveForJwk(m.curve) : undefined;
  if (m.type === 'ec' && curve) return Buffer.concat([sshString(`ecdsa-sha2-${curve}`), sshString(curve), sshString(m.point)]);
  throw new UnsupportedError('MS_SSH_KEY_ALGORITHM', `unsupported key type ${type}${m.type === 'ec' ? ` (${m.curve})` : ''}`, {
    hints: ['supported: RSA, Ed25519, ECDSA on NIST P-256, P-384 and P-521'],
  });
}

/** The JWK of a public key blob, and its type. @throws InputError, UnsupportedError */
export function jwkFromSshBlob(blob: Buffer): { type: SshKeyType; jwk: JsonWebKey } {
  const r = new SshReader(blob, 'SSH public key');
  const type = r.text();
  let jwk: JsonWebKey;
  if (type === 'ssh-rsa') {
    const e = r.mpint();
    const n = r.mpint();
    jwk = { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') };
  } else if (type === 'ssh-ed25519') {
    const a = r.string();
    if (a.length !== 32) throw new InputError('MS_SSH_MALFORMED', `malformed SSH public key: Ed25519 key of ${a.length} bytes`);
    jwk = { kty: 'OKP', crv: 'Ed25519', x: a.toString('base64url') };
  } else if (type.startsWith('ecdsa-sha2-')) {
    const curve = type.slice('ecdsa-sha2-'.length);
    if (!(curve in SSH_CURVES)) throw new UnsupportedError('MS_SSH_KEY_ALGORITHM', `unsupported SSH key type "${type}"`);
    const named = r.text();
    if (named !== curve) throw new InputError('MS_SSH_MALFORMED', `malformed SSH public key: ${type} names curve "${named}"`);
    const point = r.string();
    jwk = { kty: 'EC', crv: SSH_CURVES[curve as SshCurve].jwk, ...ecPointToJwk(point, SSH_CURVES[curve as SshCurve].size) };
  } else if (type === 'ssh-dss') {
    throw dsaNotSupported();
  } else {
    throw new UnsupportedError('MS_SSH_KEY_ALGORITHM', `unsupported SSH key type ${JSON.stringify(type)}`);
  }
  r.end();
  return { type: type as SshKeyType, jwk };
}

/** x and y (base64url) of an uncompressed point 04‖x‖y. @throws InputError */
export function ecPointToJwk(point: Buffer, size: number): { x: string; y: string } {
  if (point.length !== 1 + 2 * size || point[0] !== 4) {
    throw new InputError('MS_SSH_MALFORMED', 'EC point is not an uncompressed point of the curve size');
  }
  return { x: point.subarray(1, 1 + size).toString('base64url'), y: point.subarray(1 + size).toString('base64url') };
}

/** A node:crypto public key from a wire blob. @throws InputError, UnsupportedError */
export function keyObjectFromSshBlob(blob: Buffer): KeyObject {
  const { jwk } = jwkFromSshBlob(blob);
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw new InputError('MS_SSH_MALFORMED', 'SSH public key is not a valid key of its type', { cause: err });
  }
}

/**
 * Parses one public key line, `type base64 [comment]` (a `.pub` file, known_hosts or
 * authorized_keys after their leading fields). The type must agree with the blob.
 * @throws InputError (MS_SSH_MALFORMED), UnsupportedError (MS_SSH_KEY_ALGORITHM, MS_SSH_KEY_DSA)
 */
export function parsePublicKeyLine(line: string): SshPublicKey {
  const m = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*?))?\s*$/.exec(line);
  if (!m) throw new InputError('MS_SSH_MALFORMED', 'not an SSH public key line (expected "TYPE BASE64 [COMMENT]")');
  const blob = Buffer.from(m[2], 'base64');
  const { type } = jwkFromSshBlob(blob);
  if (type !== m[1]) throw new InputError('MS_SSH_MALFORMED', `SSH key line says ${JSON.stringify(m[1])} but holds a ${type} key`);
  return { type, blob, comment: m[3] ?? '' };
}

/** `type base64[ comment]`, without a newline. */
export function formatPublicKeyLine(blob: Buffer, comment = ''): string {
  const type = new SshReader(blob).text();
  return `${type} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** The SHA256 fingerprint as ssh-keygen -l prints it: `SHA256:` and unpadded base64. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Key size in bits and the label ssh-keygen -l puts in parentheses (RSA, ED25519, ECDSA). */
export function sshKeyDescription(blob: Buffer): { bits: number; label: string } {
  const { type, jwk } = jwkFromSshBlob(blob);
  if (type === 'ssh-rsa') {
    const n = b64u(jwk.n);
    return { bits: n.length === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(n[0])), label: 'RSA' };
  }
  if (type === 'ssh-ed25519') return { bits: 256, label: 'ED25519' };
  return { bits: Number(type.slice(-3)), label: 'ECDSA' };
}

/** One line as `ssh-keygen -lf` prints it: `BITS SHA256:… COMMENT (LABEL)`. */
export function formatFingerprintLine(blob: Buffer, comment = 'no comment'): string {
  const { bits, label } = sshKeyDescription(blob);
  return `${bits} ${sshFingerprint(blob)} ${comment} (${label})`;
}
