/**
 * The secret half of an OpenPGP key packet (RFC 9580 §5.5.3) as a node:crypto private
 * key: unprotected v4 and v6 keys of RSA, EdDSA (legacy and native Ed25519) and ECDSA
 * on the NIST curves. Protected (passphrase-encrypted) keys are refused, not decrypted.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject, sign, verify } from 'node:crypto';
import { InputError, UnsupportedError } from '../errors.js';
import { PubKeyAlg } from '../openpgp/algorithms.js';
import { type KeyPacket, readMpi } from '../openpgp/key-packet.js';
import { bigintToBytes as unbig, bytesToBigint as big, modInverse } from '../util/bigint.js';
import { keyObjectFromKeyPacket, SSH_CURVES, type SshCurve } from '../ssh/index.js';

const pad = (b: Buffer, size: number) => (b.length >= size ? b : Buffer.concat([Buffer.alloc(size - b.length), b]));

/** Whether the packet carries secret material (tags 5 and 7). */
export function isSecretKeyPacket(key: KeyPacket): boolean {
  return key.secretBody !== undefined;
}

/** Whether the secret material is protected by a passphrase (S2K usage other than 0). */
export function isProtected(key: KeyPacket): boolean {
  return key.secretBody !== undefined && key.secretBody.length > 0 && key.secretBody[0] !== 0;
}

/**
 * The secret key of an unprotected key packet, checked against its public key.
 * @throws InputError (MS_PGP_SECRET_PROTECTED) for a passphrase-protected key;
 *         InputError (MS_PGP_SECRET_MALFORMED) for a bad checksum or material that does not match;
 *         UnsupportedError (MS_PGP_ALGORITHM) for other algorithms.
 */
export function privateKeyFromPacket(key: KeyPacket): KeyObject {
  const secret = key.secretBody;
  if (!secret) throw new InputError('MS_PGP_NOT_SECRET', `key ${key.fpr} has no secret material`);
  const offset = key.packet.offset;
  const tag = key.packet.tag;
  if (secret.length === 0) throw new InputError('MS_PGP_SECRET_MALFORMED', `secret key ${key.fpr} has no secret fields`);
  if (secret[0] !== 0) {
    throw new InputError('MS_PGP_SECRET_PROTECTED', `secret key ${key.fpr} is protected by a passphrase`, {
      hints: ['export it without protection, e.g. gpg --export-secret-keys after removing the passphrase with gpg --passwd'],
    });
  }
  const material = secret.subarray(1);
  const mpis = (count: number): [Buffer[], number] => {
    const out: Buffer[] = [];
    let pos = 0;
    for (let i = 0; i < count; i++) {
      const [v, next] = readMpi(material, pos, offset, tag);
      out.push(v);
      pos = next;
    }
    return [out, pos];
  };
  let jwk: JsonWebKey;
  let used: number;
  const m = key.material;
  switch (key.algorithm) {
    case PubKeyAlg.RSA:
    case PubKeyAlg.RSASign:
    case PubKeyAlg.RSAEncrypt: {
      if (m.kind !== 'rsa') throw new InputError('MS_PGP_SECRET_MALFORMED', `key ${key.fpr} is not an RSA key`);
      const [[d, p, q], end] = mpis(4);
      used = end;
      const bd = big(d);
      const bp = big(p);
      const bq = big(q);
      if (bp * bq !== big(m.n)) throw new InputError('MS_PGP_SECRET_MALFORMED', `secret key ${key.fpr}: p·q is not the modulus`);
      jwk = {
        kty: 'RSA',
        n: m.n.toString('base64url'),
        e: m.e.toString('base64url'),
        d: d.toString('base64url'),
        p: p.toString('base64url'),
        q: q.toString('base64url'),
        dp: unbig(bd % (bp - 1n)).toString('base64url'),
        dq: unbig(bd % (bq - 1n)).toString('base64url'),
        qi: unbig(modInverse(bq, bp)).toString('base64url'),
      };
      break;
    }
    case PubKeyAlg.EdDSALegacy: {
      if (m.kind !== 'ecc' || m.curve?.name !== 'ed25519' || m.point.length !== 33) {
        throw new UnsupportedError('MS_PGP_ALGORITHM', `key ${key.fpr}: only Ed25519 EdDSA keys are supported`);
      }
      const [[seed], end] = mpis(1);
      used = end;
      jwk = { kty: 'OKP', crv: 'Ed25519', x: m.point.subarray(1).toString('base64url'), d: pad(seed, 32).toString('base64url') };
      break;
    }
    case PubKeyAlg.Ed25519: {
      if (m.kind !== 'native' || material.length < 32) throw new InputError('MS_PGP_SECRET_MALFORMED', `secret key ${key.fpr} is truncated`);
      used = 32;
      jwk = { kty: 'OKP', crv: 'Ed25519', x: m.key.toString('base64url'), d: material.subarray(0, 32).toString('base64url') };
      break;
    }
    case PubKeyAlg.ECDSA: {
      const curve = m.kind === 'ecc' && m.curve && m.curve.name in SSH_CURVES ? (m.curve.name as SshCurve) : undefined;
      if (!curve || m.kind !== 'ecc') throw new UnsupportedError('MS_PGP_ALGORITHM', `key ${key.fpr}: only ECDSA on NIST P-256, P-384 and P-521 is supported`);
      const { size, jwk: crv } = SSH_CURVES[curve];
      if (m.point.length !== 1 + 2 * size || m.point[0] !== 4) throw new InputError('MS_PGP_SECRET_MALFORMED', `key ${key.fpr}: ECDSA point is not uncompressed`);
      const [[d], end] = mpis(1);
      used = end;
      jwk = {
        kty: 'EC',
        crv,
        x: m.point.subarray(1, 1 + size).toString('base64url'),
        y: m.point.subarray(1 + size).toString('base64url'),
        d: pad(d, size).toString('base64url'),
      };
      break;
    }
    default:
      throw new UnsupportedError('MS_PGP_ALGORITHM', `secret keys of public-key algorithm ${key.algorithm} are not supported (key ${key.fpr})`);
  }
  if (key.version === 4) {
    if (material.length < used + 2) throw new InputError('MS_PGP_SECRET_MALFORMED', `secret key ${key.fpr} has no checksum`);
    let sum = 0;
    for (let i = 0; i < used; i++) sum = (sum + material[i]) & 0xffff;
    if (sum !== material.readUInt16BE(used)) throw new InputError('MS_PGP_SECRET_MALFORMED', `secret key ${key.fpr}: checksum mismatch`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  } catch (err) {
    throw new InputError('MS_PGP_SECRET_MALFORMED', `secret key ${key.fpr} is not a valid key: ${(err as Error).message}`, { cause: err });
  }
  assertMatches(key, privateKey);
  return privateKey;
}

/** Signs and verifies a probe with the packet's public key, so a mismatched secret never goes further. */
function assertMatches(key: KeyPacket, privateKey: KeyObject): void {
  const publicKey = keyObjectFromKeyPacket(key);
  const probe = Buffer.from(`monkeysphere key check ${key.fpr}`);
  const hash = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  const good = verify(hash, probe, publicKey, sign(hash, probe, privateKey));
  if (!good || !createPublicKey(privateKey).equals(publicKey)) {
    throw new InputError('MS_PGP_SECRET_MALFORMED', `secret key ${key.fpr} does not match its public key`);
  }
}
