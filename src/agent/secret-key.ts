/**
 * A secret key as gpg-agent exports it (the S-expression after unwrapping), checked and
 * turned into what ssh-agent's ADD_IDENTITY carries (draft-miller-ssh-agent §4.2.3):
 * RSA `(rsa (n)(e)(d)(p)(q)(u))`, Ed25519 `(ecc (curve Ed25519)(flags eddsa)(q 0x40‖A)(d k))`
 * and ECDSA on NIST P-256/384/521 `(ecc (curve "NIST P-256")(q 04‖x‖y)(d))`. Other
 * algorithms are refused. No I/O.
 */
import { createECDH, createPrivateKey } from 'node:crypto';
import { InputError, UnsupportedError } from '../errors.js';
import { SSH_CURVES, type SshCurve } from '../ssh/public-key.js';
import { sshMpint, sshString } from '../ssh/wire.js';
import { bigintToBytes, bytesToBigint, modInverse } from '../util/bigint.js';
import { publicKeyMaterial } from '../util/key-material.js';
import { atomText, findAtom, findList, parseCanonicalSexp, type Sexp } from './sexp.js';

export type AgentSecretKey =
  | { type: 'ssh-rsa'; n: Buffer; e: Buffer; d: Buffer; p: Buffer; q: Buffer; iqmp: Buffer }
  /** `publicKey` is ENC(A), `seed` the 32-byte private key k (RFC 8032 §5.1.5). */
  | { type: 'ssh-ed25519'; publicKey: Buffer; seed: Buffer }
  | { type: `ecdsa-sha2-${SshCurve}`; curve: SshCurve; point: Buffer; d: Buffer };

/** gpg-agent's and libgcrypt's names for the NIST curves. */
const NIST_NAMES: Readonly<Record<string, SshCurve>> = {
  'nist p-256': 'nistp256',
  nistp256: 'nistp256',
  prime256v1: 'nistp256',
  secp256r1: 'nistp256',
  '1.2.840.10045.3.1.7': 'nistp256',
  'nist p-384': 'nistp384',
  nistp384: 'nistp384',
  secp384r1: 'nistp384',
  '1.3.132.0.34': 'nistp384',
  'nist p-521': 'nistp521',
  nistp521: 'nistp521',
  secp521r1: 'nistp521',
  '1.3.132.0.35': 'nistp521',
};

/** PKCS#8 (RFC 8410) of an Ed25519 seed, up to the seed itself. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const OPENSSL_CURVES: Readonly<Record<SshCurve, string>> = { nistp256: 'prime256v1', nistp384: 'secp384r1', nistp521: 'secp521r1' };

const malformed = (detail: string) => new InputError('MS_AGENT_KEY_MALFORMED', `the key gpg-agent exported is malformed: ${detail}`);

const stripZeros = (b: Buffer): Buffer => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};

/** A big-endian integer of exactly `size` bytes (left-padded; leading zero bytes dropped). */
function fixedSize(b: Buffer, size: number, what: string): Buffer {
  const v = stripZeros(b);
  if (v.length > size) throw malformed(`${what} is ${v.length} bytes, more than ${size}`);
  return Buffer.concat([Buffer.alloc(size - v.length), v]);
}

function rsaKey(params: Sexp[]): AgentSecretKey {
  const get = (name: string) => {
    const v = findAtom(params, name);
    if (!v || v.length === 0) throw malformed(`RSA parameter ${name} is missing`);
    return Buffer.from(stripZeros(v));
  };
  const [n, e, d, p, q] = ['n', 'e', 'd', 'p', 'q'].map(get);
  const [N, P, Q] = [n, p, q].map(bytesToBigint);
  if (P * Q !== N) throw malformed('RSA p·q is not n');
  // OpenSSH wants q⁻¹ mod p; libgcrypt's u is p⁻¹ mod q, so it is computed here (as the original).
  const iqmp = bigintToBytes(modInverse(Q, P));
  return { type: 'ssh-rsa', n, e, d, p, q, iqmp };
}

function ed25519Key(params: Sexp[]): AgentSecretKey {
  const flags = findList(params, 'flags')?.slice(1).map(atomText) ?? [];
  if (!flags.includes('eddsa')) throw new UnsupportedError('MS_AGENT_KEY_UNSUPPORTED', 'Ed25519 key without the eddsa flag (an X25519 key?) cannot be used with ssh');
  const q = findAtom(params, 'q');
  const d = findAtom(params, 'd');
  if (q?.length !== 33 || q[0] !== 0x40) throw malformed('Ed25519 q is not 0x40 followed by 32 bytes');
  if (!d) throw malformed('Ed25519 d is missing');
  if (d.length !== 32) throw malformed(`Ed25519 d is ${d.length} bytes, not 32`);
  const publicKey = Buffer.from(q.subarray(1));
  // The public key must be the one the seed gives: never hand ssh-agent a mismatched pair.
  const derived = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, d]), format: 'der', type: 'pkcs8' });
  const material = publicKeyMaterial(derived);
  if (material.type !== 'ed25519' || !material.a.equals(publicKey)) throw malformed('Ed25519 q does not belong to d');
  return { type: 'ssh-ed25519', publicKey, seed: Buffer.from(d) };
}

function ecdsaKey(params: Sexp[], curveName: string): AgentSecretKey {
  const curve = NIST_NAMES[curveName.toLowerCase()];
  if (!curve) throw new UnsupportedError('MS_AGENT_KEY_UNSUPPORTED', `ECC key on curve ${JSON.stringify(curveName)} cannot be used with ssh`, { hints: ['ssh-agent takes RSA, Ed25519 and ECDSA on NIST P-256, P-384 and P-521'] });
  const size = SSH_CURVES[curve].size;
  const point = findAtom(params, 'q');
  const dRaw = findAtom(params, 'd');
  if (!point || point.length !== 1 + 2 * size || point[0] !== 4) throw malformed(`${curve} q is not an uncompressed point`);
  if (!dRaw) throw malformed(`${curve} d is missing`);
  const d = fixedSize(dRaw, size, `${curve} d`);
  let derived: Buffer;
  try {
    const ecdh = createECDH(OPENSSL_CURVES[curve]);
    ecdh.setPrivateKey(d);
    derived = ecdh.getPublicKey();
  } catch {
    throw malformed(`${curve} d is not a valid secret of the curve`);
  }
  if (!derived.equals(point)) throw malformed(`${curve} q does not belong to d`);
  return { type: `ecdsa-sha2-${curve}`, curve, point: Buffer.from(point), d: Buffer.from(stripZeros(d)) };
}

/**
 * The secret key of an unwrapped EXPORT_KEY answer.
 * @throws InputError (MS_AGENT_KEY_MALFORMED), UnsupportedError (MS_AGENT_KEY_UNSUPPORTED)
 */
export function parseAgentSecretKey(bytes: Buffer): AgentSecretKey {
  const top = parseCanonicalSexp(bytes);
  if (atomText(top[0]) !== 'private-key') throw malformed(`expected (private-key …), got (${atomText(top[0]) ?? 'a list'} …)`);
  const params = top[1];
  if (!Array.isArray(params)) throw malformed('no key parameters');
  const algo = atomText(params[0]);
  if (algo === 'rsa') return rsaKey(params);
  if (algo === 'ecc' || algo === 'ecdsa' || algo === 'eddsa') {
    const curve = atomText(findAtom(params, 'curve')) ?? '';
    if (curve.toLowerCase() === 'ed25519') return ed25519Key(params);
    return ecdsaKey(params, curve);
  }
  throw new UnsupportedError('MS_AGENT_KEY_UNSUPPORTED', `key is neither RSA nor Ed25519 nor ECDSA (${JSON.stringify(algo ?? '')}), cannot handle it.`);
}

/** The key as ssh-agent's ADD_IDENTITY carries it: key type, then the private key fields. */
export function sshAgentKeyFields(key: AgentSecretKey): Buffer {
  switch (key.type) {
    case 'ssh-rsa':
      return Buffer.concat([sshString(key.type), ...[key.n, key.e, key.d, key.iqmp, key.p, key.q].map(sshMpint)]);
    case 'ssh-ed25519':
      return Buffer.concat([sshString(key.type), sshString(key.publicKey), sshString(Buffer.concat([key.seed, key.publicKey]))]);
    default:
      return Buffer.concat([sshString(key.type), sshString(key.curve), sshString(key.point), sshMpint(key.d)]);
  }
}

/** Overwrites the key's secret parts with zeros, once it has been handed on (best effort: the JS heap may hold copies). */
export function wipeSecretKey(key: AgentSecretKey): void {
  if (key.type === 'ssh-rsa') for (const b of [key.d, key.p, key.q, key.iqmp]) b.fill(0);
  else if (key.type === 'ssh-ed25519') key.seed.fill(0);
  else key.d.fill(0);
}

/** The public key blob (RFC 4253 §6.6) of the secret key. */
export function sshPublicBlobOf(key: AgentSecretKey): Buffer {
  switch (key.type) {
    case 'ssh-rsa':
      return Buffer.concat([sshString(key.type), sshMpint(key.e), sshMpint(key.n)]);
    case 'ssh-ed25519':
      return Buffer.concat([sshString(key.type), sshString(key.publicKey)]);
    default:
      return Buffer.concat([sshString(key.type), sshString(key.curve), sshString(key.point)]);
  }
}
