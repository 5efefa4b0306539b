/**
 * Reading private keys in every format ssh-keygen and openssl write today: the OpenSSH
 * container (openssh-key-v1, optionally bcrypt-encrypted), PEM PKCS#1, PKCS#8 (plain or
 * encrypted), SEC1 and legacy encrypted PEM, and their DER forms. sshpk reads the
 * OpenSSH container, node:crypto the rest; either way the result is a node:crypto
 * KeyObject. RSA, Ed25519 and ECDSA P-256/384/521 are accepted; DSA is refused.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import sshpk from 'sshpk';
import { InputError, MsError, UnsupportedError } from '../errors.js';
import { dsaNotSupported, ecPointToJwk, SSH_CURVES, type SshCurve, sshBlobFromKeyObject, sshCurveForJwk } from './public-key.js';
import { bigintToBytes as unbig, bytesToBigint as big } from '../util/bigint.js';
import { publicKeyMaterial } from '../util/key-material.js';

export type PrivateKeyFormat = 'openssh' | 'pkcs1' | 'pkcs8' | 'sec1' | 'der';

export interface LoadedPrivateKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The SSH public key blob of the key. */
  blob: Buffer;
  /** The comment stored in an OpenSSH container; empty otherwise. */
  comment: string;
  format: PrivateKeyFormat;
  encrypted: boolean;
}

export interface ParsePrivateKeyOptions {
  passphrase?: string | Buffer;
  /** Where the key came from, for messages (a file name, "standard input"). */
  source?: string;
}

/** The key is passphrase-protected and no passphrase was given: callers may ask for one and retry. */
export class PassphraseRequiredError extends InputError {
  constructor(source: string) {
    super('MS_SSH_KEY_ENCRYPTED', `the private key in ${source} is encrypted and no passphrase was given`, {
      hints: ['give the passphrase (see --passphrase-file), or remove it with: ssh-keygen -p -N "" -f KEYFILE'],
      data: { source },
    });
  }
}

/** The passphrase given does not decrypt the key. */
export class BadPassphraseError extends InputError {
  constructor(source: string, cause?: unknown) {
    super('MS_SSH_KEY_PASSPHRASE', `the passphrase does not decrypt the private key in ${source}`, { cause, data: { source } });
  }
}

const OPENSSH_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';

/** Whether the key text is passphrase-protected (without trying to decrypt it). */
export function isEncryptedPrivateKey(data: Buffer | string): boolean {
  const text = typeof data === 'string' ? data : data.toString('latin1');
  if (text.includes(OPENSSH_BEGIN)) {
    try {
      sshpk.parsePrivateKey(text, 'openssh');
      return false;
    } catch (err) {
      return (err as Error).name === 'KeyEncryptedError';
    }
  }
  return /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text) || /^Proc-Type:\s*4,ENCRYPTED/m.test(text);
}

/**
 * Parses a private key.
 * @throws PassphraseRequiredError when it is encrypted and no passphrase was given;
 *         BadPassphraseError when the passphrase is wrong;
 *         UnsupportedError (MS_SSH_KEY_DSA, MS_SSH_KEY_ALGORITHM) for DSA and other algorithms;
 *         InputError (MS_SSH_KEY_FORMAT) when the data is no private key we know.
 */
export function parsePrivateKey(data: Buffer | string, opts: ParsePrivateKeyOptions = {}): LoadedPrivateKey {
  const source = opts.source ?? 'the input';
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const text = buf.toString('latin1');
  let loaded: Omit<LoadedPrivateKey, 'blob' | 'publicKey'>;
  if (text.includes(OPENSSH_BEGIN)) loaded = readOpenSsh(text, opts.passphrase, source);
  else if (text.includes('-----BEGIN ')) loaded = readPem(text, opts.passphrase, source);
  else loaded = readDer(buf, source);
  const publicKey = createPublicKey(loaded.privateKey);
  // Refuses DSA and unsupported curves with the right error.
  const blob = sshBlobFromKeyObject(publicKey);
  return { ...loaded, publicKey, blob };
}

function checkType(key: KeyObject): KeyObject {
  const t = key.asymmetricKeyType;
  if (t === 'dsa') throw dsaNotSupported();
  if (t !== 'rsa' && t !== 'ed25519' && t !== 'ec') {
    throw new UnsupportedError('MS_SSH_KEY_ALGORITHM', `unsupported private key type ${t}`, {
      hints: ['supported: RSA, Ed25519, ECDSA on NIST P-256, P-384 and P-521'],
    });
  }
  return key;
}

function pemFormat(text: string): PrivateKeyFormat {
  if (text.includes('-----BEGIN RSA PRIVATE KEY-----')) return 'pkcs1';
  if (text.includes('-----BEGIN EC PRIVATE KEY-----')) return 'sec1';
  return 'pkcs8';
}

function readPem(text: string, passphrase: string | Buffer | undefined, source: string): Omit<LoadedPrivateKey, 'blob' | 'publicKey'> {
  if (text.includes('-----BEGIN DSA PRIVATE KEY-----')) throw dsaNotSupported();
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text) || /^Proc-Type:\s*4,ENCRYPTED/m.test(text);
  if (encrypted && passphrase === undefined) throw new PassphraseRequiredError(source);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem', ...(encrypted ? { passphrase } : {}) });
  } catch (err) {
    if (encrypted) throw new BadPassphraseError(source, err);
    throw new InputError('MS_SSH_KEY_FORMAT', `cannot read the private key in ${source}: ${(err as Error).message}`, { cause: err });
  }
  return { privateKey: checkType(key), comment: '', format: pemFormat(text), encrypted };
}

function readDer(buf: Buffer, source: string): Omit<LoadedPrivateKey, 'blob' | 'publicKey'> {
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      const key = createPrivateKey({ key: buf, format: 'der', type });
      return { privateKey: checkType(key), comment: '', format: 'der', encrypted: false };
    } catch (err) {
      if (err instanceof MsError) throw err;
    }
  }
  throw new InputError('MS_SSH_KEY_FORMAT', `no private key found in ${source}`, {
    hints: ['expected an OpenSSH private key, or a PEM (PKCS#1, PKCS#8, SEC1) private key'],
  });
}

function mag(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

function readOpenSsh(text: string, passphrase: string | Buffer | undefined, source: string): Omit<LoadedPrivateKey, 'blob' | 'publicKey'> {
  let key: sshpk.PrivateKey;
  let encrypted = false;
  try {
    key = sshpk.parsePrivateKey(text, 'openssh');
  } catch (err) {
    const name = (err as Error).name;
    if (name !== 'KeyEncryptedError') {
      throw new InputError('MS_SSH_KEY_FORMAT', `cannot read the OpenSSH private key in ${source}: ${(err as Error).message}`, { cause: err });
    }
    if (passphrase === undefined) throw new PassphraseRequiredError(source);
    encrypted = true;
    try {
      key = sshpk.parsePrivateKey(text, 'openssh', { passphrase });
    } catch (err2) {
      throw new BadPassphraseError(source, err2);
    }
  }
  const part = (n: string): Buffer => mag((key.part as unknown as Record<string, { data: Buffer }>)[n].data);
  let jwk: JsonWebKey;
  switch (key.type) {
    case 'rsa': {
      const [n, e, d, p, q, iqmp] = ['n', 'e', 'd', 'p', 'q', 'iqmp'].map(part);
      const bd = big(d);
      jwk = {
        kty: 'RSA',
        n: n.toString('base64url'),
        e: e.toString('base64url'),
        d: d.toString('base64url'),
        p: p.toString('base64url'),
        q: q.toString('base64url'),
        dp: unbig(bd % (big(p) - 1n)).toString('base64url'),
        dq: unbig(bd % (big(q) - 1n)).toString('base64url'),
        qi: iqmp.toString('base64url'),
      };
      break;
    }
    case 'ed25519': {
      const a = (key.part as unknown as Record<string, { data: Buffer }>).A.data;
      const k = (key.part as unknown as Record<string, { data: Buffer }>).k.data;
      jwk = { kty: 'OKP', crv: 'Ed25519', x: a.toString('base64url'), d: k.subarray(0, 32).toString('base64url') };
      break;
    }
    case 'ecdsa': {
      const curve = key.curve as SshCurve;
      if (!(curve in SSH_CURVES)) throw new UnsupportedError('MS_SSH_KEY_ALGORITHM', `unsupported ECDSA curve ${key.curve}`);
      const { size, jwk: crv } = SSH_CURVES[curve];
      const q = (key.part as unknown as Record<string, { data: Buffer }>).Q.data;
      const d = part('d');
      jwk = { kty: 'EC', crv, ...ecPointToJwk(q, size), d: Buffer.concat([Buffer.alloc(Math.max(0, size - d.length)), d]).toString('base64url') };
      break;
    }
    case 'dsa':
      throw dsaNotSupported();
    default:
      throw new UnsupportedError('MS_SSH_KEY_ALGORITHM', `unsupported OpenSSH key type ${key.type}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw new InputError('MS_SSH_KEY_FORMAT', `the OpenSSH private key in ${source} is not a valid ${key.type} key`, { cause: err });
  }
  return { privateKey, comment: key.comment ?? '', format: 'openssh', encrypted };
}

/** Whether the key is one we can turn into OpenPGP and back (RSA, Ed25519, ECDSA on a NIST curve). */
export function isSupportedKey(key: KeyObject): boolean {
  const t = key.asymmetricKeyType;
  if (t === 'rsa' || t === 'ed25519') return true;
  if (t !== 'ec') return false;
  const m = publicKeyMaterial(key);
  return m.type === 'ec' && sshCurveForJwk(m.curve) !== undefined;
}
