/**
 * Test certificates for the keyserver tests, built with node:crypto through
 * src/openpgp/build.ts: Ed25519 primaries with positive self-certifications, and
 * third-party certifications added on demand.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import type { KeyPacket } from '../../src/openpgp/key-packet.js';
import { keyPacketFor, signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import { KeyFlag, SigType } from '../../src/openpgp/signature.js';
import { REFERENCE_TIME } from '../helpers/gpg.js';

export interface TestKey {
  privateKey: KeyObject;
  primary: KeyPacket;
  cert: Cert;
}

/** Created a year before the reference time, so gpg with its frozen clock accepts everything. */
export const CREATED = REFERENCE_TIME - 365 * 86400;

function one(bytes: Buffer): Cert {
  const { certs, problems } = readCerts(bytes);
  if (certs.length !== 1 || problems.length > 0) throw new Error(`test cert did not read back: ${problems.map((p) => p.message).join('; ')}`);
  return certs[0];
}

/** An Ed25519 certificate (certify+sign+authenticate) with these user IDs, each self-certified. */
export function makeKey(userIds: string[], created = CREATED): TestKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const primary = keyPacketFor(privateKey, created);
  const raws: Buffer[] = [primary.packet.raw];
  userIds.forEach((text, i) => {
    const user = userIdPacket(text);
    const hashed = [sp.created(created), sp.issuerFingerprint(primary), sp.keyFlags(KeyFlag.Certify | KeyFlag.Sign | KeyFlag.Authenticate)];
    if (i === 0) hashed.push(sp.primaryUserId());
    const sig = signV4({ kind: 'user', primary, user }, { type: SigType.PositiveCert, signer: primary, privateKey, hashed });
    raws.push(user.raw, sig.packet.raw);
  });
  return { privateKey, primary, cert: one(Buffer.concat(raws)) };
}

/**
 * `target`'s certificate with one more certification of `userId` by `signer`, placed
 * after that user ID's signatures. `exportable: false` makes a local signature, as
 * gpg's lsign and ltsign do.
 */
export function certify(target: TestKey, userId: string, signer: TestKey, opts: { created?: number; exportable?: boolean } = {}): Cert {
  const user = target.cert.users.find((u) => u.text === userId);
  if (!user) throw new Error(`no user ID ${userId}`);
  const hashed = [sp.created(opts.created ?? CREATED + 86400), sp.issuerFingerprint(signer.primary)];
  if (opts.exportable === false) hashed.push(sp.exportable(false));
  const sig = signV4({ kind: 'user', primary: target.primary, user: user.packet }, { type: SigType.GenericCert, signer: signer.primary, privateKey: signer.privateKey, hashed });
  const last = user.signatures[user.signatures.length - 1]?.packet ?? user.packet;
  const raws: Buffer[] = [];
  for (const p of target.cert.packets) {
    raws.push(p.raw);
    if (p === last) raws.push(sig.packet.raw);
  }
  return one(Buffer.concat(raws));
}

/** Issuer fingerprints of every third-party signature on the user ID `userId`. */
export function certifiers(cert: Cert, userId: string): string[] {
  const user = cert.users.find((u) => u.text === userId);
  return (user?.signatures ?? []).flatMap((s) => s.sig?.issuerFingerprints ?? []).filter((f) => f !== cert.primary.fpr);
}
