/**
 * The trust core: the server's own OpenPGP key (Ed25519 v4, certify only), the only
 * ultimately trusted root of its web of trust, as in the original's `setup`. Its secret
 * is a transferable secret key in a 0600 file; it makes the local (non-exportable) trust
 * signatures that turn a key into an identity certifier, and the local certification
 * revocations that remove one.
 * Not here: where the file lives (config.ts) or what the signatures are worth (wot/).
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EnvironmentError, InputError } from '../errors.js';
import { keyPacketFor, signV4, sp, subpacket, userIdPacket } from '../openpgp/build.js';
import { type Cert, readCerts } from '../openpgp/cert.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { encodePacket, Tag } from '../openpgp/packets.js';
import { KeyFlag, type Signature, SigType, SubpacketType } from '../openpgp/signature.js';

export const CORE_UID_PREFIX = 'Monkeysphere authentication trust core UID (random string: ';

export { TRUST_AMOUNT } from './trust-amount.js';

export interface CoreKey {
  /** The public certificate (primary key, user ID, self-signature). */
  cert: Cert;
  primary: KeyPacket;
  privateKey: KeyObject;
}

/**
 * The regular expression gpg's tsign writes for a domain (g10/keyedit.c trustsig_prompt):
 * `<[^>]+[@.]` + the domain with every non-alphanumeric character backslash-escaped + `>$`.
 */
export function domainRegex(domain: string): string {
  return `<[^>]+[@.]${domain.replace(/[^A-Za-z0-9]/g, (c) => `\\${c}`)}>$`;
}

/** The domain a regex of domainRegex's form limits to; undefined for any other regex. */
export function domainOfRegex(regex: string): string | undefined {
  const m = /^<\[\^>\]\+\[@\.\]((?:\\[^A-Za-z0-9]|[A-Za-z0-9])+)>\$$/.exec(regex);
  return m ? m[1].replace(/\\(.)/g, '$1') : undefined;
}

/** A salt notation (as Sequoia and gpg 2.4 add), so two signatures made in the same second differ. */
function saltNotation(): Buffer {
  const name = Buffer.from('salt@notations.sequoia-pgp.org', 'utf8');
  const value = randomBytes(16);
  const head = Buffer.alloc(8);
  head.writeUInt16BE(name.length, 4);
  head.writeUInt16BE(value.length, 6);
  return subpacket(SubpacketType.Notation, Buffer.concat([head, name, value]));
}

/**
 * Makes a new trust core at `now` (Unix seconds): returns the secret key bytes to keep
 * and the public certificate to put in the store.
 */
export function generateCore(now: number): { secret: Buffer; core: CoreKey } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const secretPacket = keyPacketFor(privateKey, now, { secret: true });
  const primary = keyPacketFor(privateKey, now);
  const uid = userIdPacket(`${CORE_UID_PREFIX}${randomBytes(21).toString('base64')})`);
  const self = signV4(
    { kind: 'user', primary, user: uid },
    {
      type: SigType.PositiveCert,
      signer: primary,
      privateKey,
      hashed: [sp.created(now), sp.issuerFingerprint(primary), sp.keyFlags(KeyFlag.Certify), sp.primaryUserId()],
    },
  );
  const secret = Buffer.concat([secretPacket.packet.raw, uid.raw, self.packet.raw]);
  const cert = readCerts(Buffer.concat([primary.packet.raw, uid.raw, self.packet.raw])).certs[0];
  return { secret, core: { cert, primary: cert.primary, privateKey } };
}

/**
 * Reads the core's secret key file.
 * @throws EnvironmentError (MS_AUTH_CORE) when it is missing, unreadable or not an unprotected Ed25519 secret key.
 */
export function loadCore(path: string): CoreKey {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new EnvironmentError('MS_AUTH_CORE', `cannot read the trust core key ${JSON.stringify(path)}: ${(err as Error).message}`, {
      cause: err,
      hints: ['run: monkeysphere-authentication setup'],
    });
  }
  const { certs } = readCerts(bytes);
  const sec = certs[0];
  if (!sec?.secret || !sec.primary.secretBody) throw new EnvironmentError('MS_AUTH_CORE', `${JSON.stringify(path)} holds no secret key`);
  const privateKey = ed25519PrivateKey(sec.primary, path);
  // The public view: the same packets with the public-key tag.
  const pubRaw = encodePacket(Tag.PublicKey, sec.primary.publicBody);
  const rest = sec.packets.slice(1).map((p) => p.raw);
  const cert = readCerts(Buffer.concat([pubRaw, ...rest])).certs[0];
  return { cert, primary: cert.primary, privateKey };
}

function ed25519PrivateKey(key: KeyPacket, path: string): KeyObject {
  const m = key.material;
  const body = key.secretBody!;
  if (key.algorithm !== 22 || m.kind !== 'ecc' || m.curve?.name !== 'ed25519' || body[0] !== 0) {
    throw new EnvironmentError('MS_AUTH_CORE', `${JSON.stringify(path)} is not an unprotected Ed25519 key`);
  }
  const bits = body.readUInt16BE(1);
  const len = (bits + 7) >> 3;
  const d = Buffer.concat([Buffer.alloc(Math.max(0, 32 - len)), body.subarray(3, 3 + len)]);
  const x = m.point.subarray(1);
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: d.toString('base64url'), x: x.toString('base64url') }, format: 'jwk' });
}

export interface TrustSignatureOptions {
  /** Unix seconds. */
  now: number;
  /** Trust depth (gpg's "level"): 1 lets the certifier certify users; more lets it delegate. */
  depth: number;
  amount: number;
  /** The regex limiting what the certifier may certify (see domainRegex). */
  regex?: string;
}

/** A user ID packet alone with one signature: merged into the stored certificate, it adds that signature. */
function withSignatures(target: Cert, parts: Array<{ userPacketRaw: Buffer; sigs: Signature[] }>): Cert {
  const raws: Buffer[] = [target.primary.packet.raw];
  for (const p of parts) {
    raws.push(p.userPacketRaw);
    for (const s of p.sigs) raws.push(s.packet.raw);
  }
  const { certs, problems } = readCerts(Buffer.concat(raws));
  if (certs.length !== 1 || problems.length > 0) throw new InputError('MS_AUTH_SIGN', `cannot build signatures for ${target.primary.fpr}`);
  return certs[0];
}

/**
 * The core's local trust signatures (class 0x10, non-exportable, trust depth/amount,
 * critical regex) on each of these user IDs of `target`, as a certificate fragment to
 * merge into the stored one (gpg's `ltsign`).
 */
export function trustSign(core: CoreKey, target: Cert, userIds: string[], opts: TrustSignatureOptions): Cert {
  const parts = userIds.map((text) => {
    const user = target.users.find((u) => u.kind === 'userid' && u.text === text);
    if (!user) throw new InputError('MS_AUTH_SIGN', `no user ID ${JSON.stringify(text)} on ${target.primary.fpr}`);
    const hashed = [sp.created(opts.now), sp.exportable(false), sp.trust(opts.depth, opts.amount)];
    if (opts.regex !== undefined) hashed.push(sp.regex(opts.regex));
    hashed.push(sp.issuerFingerprint(core.primary), saltNotation());
    const sig = signV4(
      { kind: 'user', primary: target.primary, user: user.packet },
      { type: SigType.GenericCert, signer: core.primary, privateKey: core.privateKey, hashed },
    );
    return { userPacketRaw: user.packet.raw, sigs: [sig] };
  });
  return withSignatures(target, parts);
}

/** The core's local certification revocations (0x30) of these user IDs of `target`, as a fragment to merge. */
export function revokeCertifications(core: CoreKey, target: Cert, userIds: string[], now: number): Cert {
  const parts = userIds.map((text) => {
    const user = target.users.find((u) => u.kind === 'userid' && u.text === text);
    if (!user) throw new InputError('MS_AUTH_SIGN', `no user ID ${JSON.stringify(text)} on ${target.primary.fpr}`);
    const hashed = [sp.created(now), sp.exportable(false), sp.reason(0, 'identity certifier removed'), sp.issuerFingerprint(core.primary), saltNotation()];
    const sig = signV4(
      { kind: 'user', primary: target.primary, user: user.packet },
      { type: SigType.CertRevocation, signer: core.primary, privateKey: core.privateKey, hashed },
    );
    return { userPacketRaw: user.packet.raw, sigs: [sig] };
  });
  return withSignatures(target, parts);
}
