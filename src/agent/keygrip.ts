/**
 * Keygrips: the protocol-independent key identifier gpg-agent files secret keys under
 * (libgcrypt's gcry_pk_get_keygrip, a SHA-1 over the public parameters), computed from an
 * OpenPGP key's material so no gpg listing is needed to name a key to the agent.
 * RSA, DSA, ElGamal, and ECC on the NIST curves, Ed25519 and Curve25519; checked against
 * `gpg --with-keygrip` (test/agent/keygrip.test.ts). Pure.
 */
import { createHash, type Hash } from 'node:crypto';
import { PubKeyAlg } from '../openpgp/algorithms.js';
import type { KeyPacket } from '../openpgp/key-packet.js';

/**
 * Domain parameters p, a, b, g, n of each curve, byte for byte as libgcrypt hashes them:
 * the published constants as unsigned integers without leading zero bytes, except g, an
 * uncompressed point 04‖x‖y with coordinates of the field's size. For Ed25519 libgcrypt
 * stores a = -1 and b = -(p-d); the keygrip hashes their magnitudes.
 */
const CURVE_PARAMS: Readonly<Record<string, readonly [string, string, string, string, string]>> = {
  nistp256: [
    'ffffffff00000001000000000000000000000000ffffffffffffffffffffffff',
    'ffffffff00000001000000000000000000000000fffffffffffffffffffffffc',
    '5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b',
    '046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5',
    'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
  ],
  nistp384: [
    'fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff',
    'fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc',
    'b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef',
    '04aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab73617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f',
    'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
  ],
  nistp521: [
    '01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    '01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffc',
    '51953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00',
    '0400c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650',
    '01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
  ],
  ed25519: [
    '7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed',
    '01',
    '2dfc9311d490018c7338bf8688861767ff8ff5b2bebe27548a14b235eca6874a',
    '04216936d3cd6e53fec0a4e231fdd6dc5c692cc7609525a7b2c9562d608f25d51a6666666666666666666666666666666666666666666666666666666666666658',
    '1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed',
  ],
  cv25519: [
    '7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed',
    '01db41',
    '01',
    '04000000000000000000000000000000000000000000000000000000000000000920ae19a1b8a086b4e01edd2c7748d14c923d4d7e6d7c61b229e9c5a27eced3d9',
    '1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed',
  ],
};

/** Without leading zero bytes (libgcrypt's unsigned buffer of an MPI). */
function unsigned(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** As libgcrypt's standard (two's complement) MPI format writes a non-negative value: a zero byte before a set top bit. */
function standard(b: Buffer): Buffer {
  const v = unsigned(b);
  return v.length > 0 && v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
}

/** One `(1:X<len>:<bytes>)` element, as libgcrypt hashes a named parameter. */
function element(h: Hash, name: string, value: Buffer): void {
  h.update(`(1:${name}${value.length}:`, 'latin1');
  h.update(value);
  h.update(')', 'latin1');
}

/** The keygrip of a key (uppercase hex, 40 digits), or undefined for an algorithm or curve gpg-agent would not hold in this form. */
export function keygripOf(key: KeyPacket): string | undefined {
  const m = key.material;
  const h = createHash('sha1');
  if (m.kind === 'rsa') {
    h.update(standard(m.n));
  } else if (m.kind === 'dsa') {
    for (const [name, v] of [['p', m.p], ['q', m.q], ['g', m.g], ['y', m.y]] as const) element(h, name, standard(v));
  } else if (m.kind === 'elgamal') {
    for (const [name, v] of [['p', m.p], ['g', m.g], ['y', m.y]] as const) element(h, name, standard(v));
  } else if (m.kind === 'ecc' && (key.algorithm === PubKeyAlg.ECDSA || key.algorithm === PubKeyAlg.EdDSALegacy || key.algorithm === PubKeyAlg.ECDH)) {
    const params = m.curve ? CURVE_PARAMS[m.curve.name] : undefined;
    if (!params) return undefined;
    for (const [i, name] of ['p', 'a', 'b', 'g', 'n'].entries()) element(h, name, Buffer.from(params[i], 'hex'));
    // The public point: libgcrypt hashes the compact form of an EdDSA / Curve25519 point,
    // that is without OpenPGP's 0x40 prefix (its _gcry_ecc_eddsa_ensure_compact).
    const q = m.point.length > 1 && m.point[0] === 0x40 ? m.point.subarray(1) : unsigned(m.point);
    element(h, 'q', q);
  } else {
    return undefined;
  }
  return h.digest('hex').toUpperCase();
}
