/**
 * Test people for the authentication tests, built with src/openpgp/build.ts: an
 * Ed25519 or RSA primary (certify+sign) with an authentication subkey (what
 * `monkeysphere gen-subkey` makes), certifications by others, and revocations of the
 * key, the subkey or a user ID. Each person also has an OpenSSH identity file for the
 * real ssh client.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyPacketFor, signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import type { KeyPacket } from '../../src/openpgp/key-packet.js';
import { KeyFlag, SigType } from '../../src/openpgp/signature.js';
import { formatOpenSshPrivateKey } from '../../src/ssh/openssh-private.js';
import { sshLineFromKeyPacket } from '../../src/ssh/openpgp.js';

/** 2023-01-15T00:00:00Z: the tests' reference time. */
export const NOW = 1673740800;
/** Keys are made a year before NOW. */
export const CREATED = NOW - 365 * 86400;

export type Alg = 'ed25519' | 'rsa';

function keyPair(alg: Alg): KeyObject {
  return alg === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : generateKeyPairSync('ed25519').privateKey;
}

function one(bytes: Buffer): Cert {
  const { certs, problems } = readCerts(bytes);
  if (certs.length !== 1 || problems.length > 0) throw new Error(`test cert did not read back: ${problems.map((p) => p.message).join('; ')}`);
  return certs[0];
}

export interface PersonOptions {
  alg?: Alg;
  created?: number;
  /** Seconds after creation when the primary key expires. */
  keyExpiresAfter?: number;
  /** false: the primary key itself is the authentication key (no subkey). */
  authSubkey?: boolean;
  /** The primary's private key (an ssh host key, say) instead of a new one. */
  key?: KeyObject;
}

export class Person {
  readonly privateKey: KeyObject;
  readonly primary: KeyPacket;
  /** The authentication key: the subkey, or the primary when there is none. */
  readonly authKey: KeyObject;
  readonly authPacket: KeyPacket;
  cert: Cert;
  private identityDir?: string;

  constructor(
    readonly userIds: string[],
    readonly opts: PersonOptions = {},
  ) {
    const alg = opts.alg ?? 'ed25519';
    const created = opts.created ?? CREATED;
    this.privateKey = opts.key ?? keyPair(alg);
    this.primary = keyPacketFor(this.privateKey, created);
    const subkey = opts.authSubkey !== false;
    const raws: Buffer[] = [this.primary.packet.raw];
    const flags = KeyFlag.Certify | KeyFlag.Sign | (subkey ? 0 : KeyFlag.Authenticate);
    userIds.forEach((text, i) => {
      const user = userIdPacket(text);
      const hashed = [sp.created(created), sp.issuerFingerprint(this.primary), sp.keyFlags(flags)];
      if (opts.keyExpiresAfter) hashed.push(sp.keyExpiresAfter(opts.keyExpiresAfter));
      if (i === 0) hashed.push(sp.primaryUserId());
      const sig = signV4({ kind: 'user', primary: this.primary, user }, { type: SigType.PositiveCert, signer: this.primary, privateKey: this.privateKey, hashed });
      raws.push(user.raw, sig.packet.raw);
    });
    if (subkey) {
      this.authKey = keyPair(alg);
      this.authPacket = keyPacketFor(this.authKey, created, { subkey: true });
      const bind = signV4(
        { kind: 'subkey', primary: this.primary, subkey: this.authPacket },
        { type: SigType.SubkeyBinding, signer: this.primary, privateKey: this.privateKey, hashed: [sp.created(created), sp.issuerFingerprint(this.primary), sp.keyFlags(KeyFlag.Authenticate)] },
      );
      raws.push(this.authPacket.packet.raw, bind.packet.raw);
    } else {
      this.authKey = this.privateKey;
      this.authPacket = this.primary;
    }
    this.cert = one(Buffer.concat(raws));
  }

  get fpr(): string {
    return this.primary.fpr;
  }

  /** `type base64` of the authentication key, as authorized_keys lines carry it. */
  get sshKey(): string {
    return sshLineFromKeyPacket(this.authPacket);
  }

  /** The certificate's bytes (binary). */
  get bytes(): Buffer {
    return Buffer.concat(this.cert.packets.map((p) => p.raw));
  }

  /** A private OpenSSH identity file for the authentication key (0600, in a temp dir). */
  identityFile(): string {
    this.identityDir ??= mkdtempSync(join(tmpdir(), 'ms-id-'));
    const path = join(this.identityDir, 'id');
    writeFileSync(path, formatOpenSshPrivateKey(this.authKey), { mode: 0o600 });
    return path;
  }

  cleanup(): void {
    if (this.identityDir) rmSync(this.identityDir, { recursive: true, force: true });
  }

  private append(afterRaw: Buffer | undefined, sig: Buffer): void {
    const raws: Buffer[] = [];
    let placed = false;
    for (const p of this.cert.packets) {
      raws.push(p.raw);
      if (p.raw === afterRaw) {
        raws.push(sig);
        placed = true;
      }
    }
    if (!placed) raws.push(sig);
    this.cert = one(Buffer.concat(raws));
  }

  private lastOfUser(userId: string): Buffer {
    const u = this.cert.users.find((x) => x.text === userId);
    if (!u) throw new Error(`no user ID ${userId}`);
    return (u.signatures[u.signatures.length - 1]?.packet ?? u.packet).raw;
  }

  /** `signer` certifies this person's `userId` (class 0x10, exportable). */
  certifiedBy(signer: Person, userId = this.userIds[0], created = CREATED + 86400): this {
    const user = this.cert.users.find((u) => u.text === userId)!;
    const sig = signV4(
      { kind: 'user', primary: this.primary, user: user.packet },
      { type: SigType.GenericCert, signer: signer.primary, privateKey: signer.privateKey, hashed: [sp.created(created), sp.issuerFingerprint(signer.primary)] },
    );
    this.append(this.lastOfUser(userId), sig.packet.raw);
    return this;
  }

  /** Adds a user ID with its self-certification (a second service name, say). */
  addUserId(text: string, created = CREATED + 3600): this {
    const user = userIdPacket(text);
    const flags = this.authPacket === this.primary ? KeyFlag.Certify | KeyFlag.Authenticate : KeyFlag.Certify | KeyFlag.Sign;
    const sig = signV4(
      { kind: 'user', primary: this.primary, user },
      { type: SigType.PositiveCert, signer: this.primary, privateKey: this.privateKey, hashed: [sp.created(created), sp.issuerFingerprint(this.primary), sp.keyFlags(flags)] },
    );
    this.userIds.push(text);
    this.cert = one(Buffer.concat([...this.cert.packets.map((p) => p.raw), user.raw, sig.packet.raw]));
    return this;
  }

  /** A key revocation (0x20) at `at`; returns the certificate with it. */
  revokeKey(at: number): Cert {
    const sig = signV4(
      { kind: 'key', primary: this.primary },
      { type: SigType.KeyRevocation, signer: this.primary, privateKey: this.privateKey, hashed: [sp.created(at), sp.issuerFingerprint(this.primary), sp.reason(2, 'compromised')] },
    );
    this.append(this.cert.primary.packet.raw, sig.packet.raw);
    return this.cert;
  }

  /** A subkey revocation (0x28) of the authentication subkey at `at`. */
  revokeSubkey(at: number): Cert {
    const sig = signV4(
      { kind: 'subkey', primary: this.primary, subkey: this.authPacket },
      { type: SigType.SubkeyRevocation, signer: this.primary, privateKey: this.privateKey, hashed: [sp.created(at), sp.issuerFingerprint(this.primary), sp.reason(0, '')] },
    );
    const sub = this.cert.subkeys[0];
    this.append((sub.signatures[sub.signatures.length - 1]?.packet ?? sub.key.packet).raw, sig.packet.raw);
    return this.cert;
  }

  /** A user ID revocation (0x30 by the key itself) at `at`. */
  revokeUserId(userId: string, at: number): Cert {
    const user = this.cert.users.find((u) => u.text === userId)!;
    const sig = signV4(
      { kind: 'user', primary: this.primary, user: user.packet },
      { type: SigType.CertRevocation, signer: this.primary, privateKey: this.privateKey, hashed: [sp.created(at), sp.issuerFingerprint(this.primary), sp.reason(32, 'gone')] },
    );
    this.append(this.lastOfUser(userId), sig.packet.raw);
    return this.cert;
  }
}
