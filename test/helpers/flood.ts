/**
 * A deterministic certificate-flood generator (CVE-2019-13050) for the keyserver's tests and
 * benchmarks: Ed25519 keys derived from seeds (node:crypto, no gpg), a fixed reference time,
 * and N real third-party certifications by N throwaway issuer keys, each made with its own
 * key (so each verifies, given its issuer). Also keys that certify, attest (1PA3PC,
 * RFC 9580 §5.2.3.30) and revoke, for the policy tests. Same seeds, same bytes.
 *
 * Throwaway certifications are built straight from bytes (no parsing): 150,000 take a few
 * seconds; `floodCertifications` caches them in the temp directory by their parameters.
 */
import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMpi, keyPacketFor, signV4, sp, subpacket, userIdPacket } from '../../src/openpgp/build.js';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import { encodePacket, Tag } from '../../src/openpgp/packets.js';
import { SigType, SubpacketType } from '../../src/openpgp/signature.js';
import { u32 } from '../../src/util/bytes.js';
import { withSignatures } from '../security/flood.js';

/** `cert`'s bytes with `sigs` inserted after the last signature on `userId` (the security tests' helper). */
export { withSignatures };

/** 2026-01-01T00:00:00Z: the reference time of every flood fixture. */
export const FLOOD_NOW = 1767225600;
/** Keys are made a year before. */
export const FLOOD_CREATED = FLOOD_NOW - 365 * 86400;

/** Any 32 bytes: a private JWK's `x` is not read, the public key comes from `d` (10 times faster than a PKCS#8 import). */
const UNUSED_X = Buffer.alloc(32).toString('base64url');

/** The Ed25519 private key whose seed is sha256(`seed`). */
export function seededKey(seed: string): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: createHash('sha256').update(seed).digest('base64url'), x: UNUSED_X }, format: 'jwk' });
}

/** A key holder with self-signed user IDs (positive certifications), made from a seed. */
export class Holder {
  readonly privateKey: KeyObject;
  readonly primary: Cert['primary'];
  cert: Cert;

  constructor(
    readonly seed: string,
    userIds: string[],
    readonly created = FLOOD_CREATED,
  ) {
    this.privateKey = seededKey(seed);
    this.primary = keyPacketFor(this.privateKey, created);
    const raws: Buffer[] = [this.primary.packet.raw];
    for (const text of userIds) {
      const user = userIdPacket(text);
      const sig = signV4(
        { kind: 'user', primary: this.primary, user },
        { type: SigType.PositiveCert, signer: this.primary, privateKey: this.privateKey, hashed: [sp.created(created), sp.issuerFingerprint(this.primary), sp.keyFlags(0x03)] },
      );
      raws.push(user.raw, sig.packet.raw);
    }
    this.cert = readCerts(Buffer.concat(raws)).certs[0];
  }

  get fpr(): string {
    return this.primary.fpr;
  }

  get bytes(): Buffer {
    return Buffer.concat(this.cert.packets.map((p) => p.raw));
  }

  /** A certification (0x10 unless `type` says otherwise) by this holder of `target`'s `userId`. */
  certify(target: Cert, userId: string, created: number, opts: { type?: number; exportable?: boolean } = {}): Buffer {
    const user = target.users.find((u) => u.text === userId);
    if (!user) throw new Error(`no user ID ${userId}`);
    const hashed = [sp.created(created), sp.issuerFingerprint(this.primary)];
    if (opts.exportable === false) hashed.push(sp.exportable(false));
    return signV4({ kind: 'user', primary: target.primary, user: user.packet }, { type: opts.type ?? SigType.GenericCert, signer: this.primary, privateKey: this.privateKey, hashed }).packet.raw;
  }

  /** An attestation (0x16) by this holder on its own `userId` of these certification packets (SHA-256 digests). */
  attest(userId: string, certifications: Buffer[], created: number): Buffer {
    const user = this.cert.users.find((u) => u.text === userId);
    if (!user) throw new Error(`no user ID ${userId}`);
    const digests = certifications.map((raw) => attestedDigest(readCerts(Buffer.concat([this.primary.packet.raw, user.packet.raw, raw])).certs[0].users[0].signatures[0].packet.body));
    return signV4(
      { kind: 'user', primary: this.primary, user: user.packet },
      {
        type: SigType.Attestation,
        signer: this.primary,
        privateKey: this.privateKey,
        hashed: [sp.created(created), sp.issuerFingerprint(this.primary), subpacket(SubpacketType.AttestedCertifications, Buffer.concat(digests))],
      },
    ).packet.raw;
  }

  /** This holder's own revocation of its key (0x20). */
  revocation(created: number): Buffer {
    return signV4(
      { kind: 'key', primary: this.primary },
      { type: SigType.KeyRevocation, signer: this.primary, privateKey: this.privateKey, hashed: [sp.created(created), sp.issuerFingerprint(this.primary), sp.reason(2, 'compromised')] },
    ).packet.raw;
  }
}

/** SHA-256 of 0x88, the four-octet length and the v4 signature body with its unhashed area emptied (as Sequoia attests). */
export function attestedDigest(body: Buffer): Buffer {
  const hashedLen = body.readUInt16BE(4);
  const hp = body.subarray(0, 6 + hashedLen);
  const unhashed = body.readUInt16BE(6 + hashedLen);
  const tail = body.subarray(6 + hashedLen + 2 + unhashed);
  return createHash('sha256')
    .update(Buffer.concat([Buffer.from([0x88]), u32(hp.length + 2 + tail.length), hp, Buffer.from([0, 0]), tail]))
    .digest();
}


const ED25519_OID = Buffer.from([0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01]);

/** A v4 legacy-EdDSA public key packet body and its fingerprint, from the private key. */
function keyBody(key: KeyObject, created: number): { body: Buffer; fpr: Buffer } {
  const x = Buffer.from(String(key.export({ format: 'jwk' }).x), 'base64url');
  const point = Buffer.concat([Buffer.from([0x40]), x]);
  const body = Buffer.concat([Buffer.from([4]), u32(created), Buffer.from([22]), ED25519_OID, encodeMpi(point)]);
  const head = Buffer.from([0x99, body.length >> 8, body.length & 0xff]);
  return { body, fpr: createHash('sha1').update(head).update(body).digest() };
}

/**
 * `n` certifications (0x10, SHA-256) of `target`'s `userId`, the i-th by throwaway key
 * `${seed}/${i}`, dated one second apart going back from `newest`. Real signatures: each
 * verifies against its throwaway key (`throwawayKeys` rebuilds those certificates).
 */
export function floodCertifications(target: Cert, userId: string, n: number, opts: { seed: string; newest: number }): Buffer[] {
  const user = target.users.find((u) => u.text === userId);
  if (!user) throw new Error(`no user ID ${userId}`);
  const cacheDir = join(tmpdir(), 'ms-flood-cache');
  const id = createHash('sha256').update(`${target.primary.fpr}\0${userId}\0${n}\0${opts.seed}\0${opts.newest}\0v2`).digest('hex').slice(0, 32);
  const cacheFile = join(cacheDir, `${id}.bin`);
  if (existsSync(cacheFile)) {
    const data = readFileSync(cacheFile);
    const out: Buffer[] = [];
    for (let pos = 0; pos < data.length; ) {
      const len = data.readUInt16BE(pos);
      out.push(data.subarray(pos + 2, pos + 2 + len));
      pos += 2 + len;
    }
    if (out.length === n) return out;
  }
  const tk = target.primary.publicBody;
  const prefix = Buffer.concat([Buffer.from([0x99, tk.length >> 8, tk.length & 0xff]), tk, Buffer.from([0xb4]), u32(user.packet.body.length), user.packet.body]);
  const out: Buffer[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const key = seededKey(`${opts.seed}/${i}`);
    const { fpr } = keyBody(key, FLOOD_CREATED);
    const hashedArea = Buffer.concat([Buffer.from([5, SubpacketType.CreationTime]), u32(opts.newest - i), Buffer.from([22, SubpacketType.IssuerFingerprint, 4]), fpr]);
    const hashedPart = Buffer.concat([Buffer.from([4, SigType.GenericCert, 22, 8, 0, hashedArea.length]), hashedArea]);
    const digest = createHash('sha256')
      .update(prefix)
      .update(hashedPart)
      .update(Buffer.concat([Buffer.from([4, 0xff]), u32(hashedPart.length)]))
      .digest();
    const rs = sign(null, digest, key);
    const unhashed = Buffer.concat([Buffer.from([9, SubpacketType.Issuer]), fpr.subarray(12)]);
    const body = Buffer.concat([hashedPart, Buffer.from([0, unhashed.length]), unhashed, digest.subarray(0, 2), encodeMpi(rs.subarray(0, 32)), encodeMpi(rs.subarray(32))]);
    out[i] = encodePacket(Tag.Signature, body);
  }
  try {
    mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cacheFile}.${process.pid}`;
    writeFileSync(tmp, Buffer.concat(out.flatMap((b) => [Buffer.from([b.length >> 8, b.length & 0xff]), b])));
    renameSync(tmp, cacheFile);
  } catch {
    // A cache only.
  }
  return out;
}

/** The certificates of throwaway keys `${seed}/${from}` … `${seed}/${to - 1}` (one self-signed user ID each), to upload as issuers. */
export function throwawayKeys(seed: string, from: number, to: number): Holder[] {
  const out: Holder[] = [];
  for (let i = from; i < to; i++) out.push(new Holder(`${seed}/${i}`, [`Throwaway ${i} <t${i}@flood.example>`]));
  return out;
}

/**
 * A keyring of `n` small certificates (Ed25519, one user ID each), the i-th certified by the
 * two before it, as binary bytes; deterministic, cached in the temp directory by its
 * parameters. For bulk-import tests and benchmarks.
 */
export function syntheticKeyring(n: number, seed = 'keyring'): Buffer {
  const cacheDir = join(tmpdir(), 'ms-flood-cache');
  const cacheFile = join(cacheDir, `${createHash('sha256').update(`keyring\0${n}\0${seed}\0v2`).digest('hex').slice(0, 32)}.pgp`);
  if (existsSync(cacheFile)) return readFileSync(cacheFile);
  const holders: Holder[] = [];
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const uid = `Member ${i} <m${i}@${seed}.example>`;
    const h = new Holder(`${seed}/${i}`, [uid]);
    const certs = holders.map((by, k) => by.certify(h.cert, uid, FLOOD_CREATED + 100 + k));
    parts.push(withSignatures(h.cert, uid, certs));
    holders.push(h);
    if (holders.length > 2) holders.shift();
  }
  const out = Buffer.concat(parts);
  try {
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(`${cacheFile}.${process.pid}`, out);
    renameSync(`${cacheFile}.${process.pid}`, cacheFile);
  } catch {
    // A cache only.
  }
  return out;
}
