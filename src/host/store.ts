/**
 * Where monkeysphere-host keeps the host's keys, without a GnuPG home:
 *
 *   $SYSDATADIR/host-keys/            0700, the secret store
 *   $SYSDATADIR/host-keys/<FPR>.pgp   0600, one transferable secret key per host key
 *                                     (unprotected secret-key packet, user IDs and
 *                                     self-signatures, binary OpenPGP), replaced atomically
 *   $SYSDATADIR/host-keys/.lock       held while a command changes keys
 *   $SYSDATADIR/host_keys.pub.pgp     0644, every host certificate, public and minimal,
 *                                     armored; rewritten after every change
 *
 * Secret material never leaves the store files: everything else written is public.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Env } from '../config/index.js';
import { systemDirs } from '../config/index.js';
import { EnvironmentError, MsError, NotFoundError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic.js';
import { acquireLock, type Lock } from '../files/lock.js';
import { armor } from '../openpgp/armor.js';
import { type Cert, readCerts, type SigEntry, writeCert } from '../openpgp/cert.js';
import { encodeOldPacket, type Packet, Tag } from '../openpgp/packets.js';
import { isFingerprint } from '../openpgp/fingerprint.js';
import { SigType } from '../openpgp/signature.js';
import { parseKeyRef } from '../keytrans/key-ref.js';
import { issuedBy } from '../cert/evaluate.js';

export interface HostPaths {
  sysDataDir: string;
  keysDir: string;
  pubFile: string;
  lockFile: string;
}

export function hostPaths(env: Env): HostPaths {
  const { sysDataDir } = systemDirs(env);
  const keysDir = join(sysDataDir, 'host-keys');
  return { sysDataDir, keysDir, pubFile: join(sysDataDir, 'host_keys.pub.pgp'), lockFile: join(keysDir, '.lock') };
}

export interface HostKey {
  fpr: string;
  /** The secret certificate as stored. */
  cert: Cert;
  file: string;
}

/** Public-key packet bodies for secret ones: the certificate as `gpg --export` would give it. */
export function publicCert(cert: Cert): Cert {
  const out: Buffer[] = [];
  for (const p of cert.packets) {
    if (p.tag === Tag.Trust || p.tag === Tag.Marker) continue;
    if (p.tag === Tag.SecretKey) out.push(encodeOldPacket(Tag.PublicKey, cert.primary.publicBody));
    else if (p.tag === Tag.SecretSubkey) {
      const sub = cert.subkeys.find((s) => s.key.packet === p);
      if (sub) out.push(encodeOldPacket(Tag.PublicSubkey, sub.key.publicBody));
    } else out.push(p.raw);
  }
  const read = readCerts(Buffer.concat(out), { allowSecret: false });
  if (read.certs.length !== 1) throw new MsError('MS_HOST_INTERNAL', `public form of ${cert.primary.fpr} did not parse`);
  return read.certs[0];
}

function newest(entries: SigEntry[], pick: (e: SigEntry) => boolean): SigEntry | undefined {
  let best: SigEntry | undefined;
  for (const e of entries) if (e.sig && pick(e) && (!best || e.sig.created >= best.sig!.created)) best = e;
  return best;
}

/**
 * The minimal public certificate (gpg's export-minimal, kept for compatibility): per
 * user ID only the newest self-certification and the newest self-revocation; key-level
 * self-signatures (designated revokers, key revocations) kept; no third-party signatures.
 */
export function minimalPublicCert(cert: Cert): Cert {
  const pub = publicCert(cert);
  const primary = pub.primary;
  const self = (e: SigEntry) => e.sig !== undefined && issuedBy(e.sig, primary);
  const packets: Packet[] = [primary.packet, ...pub.directSigs.filter(self).map((e) => e.packet)];
  for (const u of pub.users) {
    const cert = newest(u.signatures, (e) => self(e) && e.sig!.type >= SigType.GenericCert && e.sig!.type <= SigType.PositiveCert);
    const rev = newest(u.signatures, (e) => self(e) && e.sig!.type === SigType.CertRevocation);
    packets.push(u.packet, ...[cert, rev].filter((e): e is SigEntry => e !== undefined).map((e) => e.packet));
  }
  for (const s of pub.subkeys) {
    const binding = newest(s.signatures, (e) => self(e) && e.sig!.type === SigType.SubkeyBinding);
    const rev = newest(s.signatures, (e) => self(e) && e.sig!.type === SigType.SubkeyRevocation);
    packets.push(s.key.packet, ...[binding, rev].filter((e): e is SigEntry => e !== undefined).map((e) => e.packet));
  }
  return readCerts(Buffer.concat(packets.map((p) => p.raw)), { allowSecret: false }).certs[0];
}

export class HostKeyStore {
  constructor(readonly paths: HostPaths) {}

  /** Creates the store directory (0700) if needed. */
  private ensureDir(): void {
    try {
      mkdirSync(this.paths.keysDir, { recursive: true, mode: 0o700 });
      chmodSync(this.paths.keysDir, 0o700);
    } catch (err) {
      throw new EnvironmentError('MS_HOST_STORE', `cannot create ${JSON.stringify(this.paths.keysDir)}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Takes the store's lock for a change. @throws TemporaryError (MS_LOCK_HELD) */
  async lock(): Promise<Lock> {
    this.ensureDir();
    return acquireLock(this.paths.lockFile);
  }

  /**
   * Every host key, ordered by fingerprint.
   * @throws EnvironmentError (MS_HOST_STORE) when a store file cannot be read or holds no secret key.
   */
  list(): HostKey[] {
    let names: string[];
    try {
      names = readdirSync(this.paths.keysDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new EnvironmentError('MS_HOST_STORE', `cannot read ${JSON.stringify(this.paths.keysDir)}: ${(err as Error).message}`, { cause: err });
    }
    const out: HostKey[] = [];
    for (const name of names.sort()) {
      if (!name.endsWith('.pgp') || !isFingerprint(name.slice(0, -4))) continue;
      const file = join(this.paths.keysDir, name);
      let cert: Cert | undefined;
      try {
        cert = readCerts(readFileSync(file)).certs[0];
      } catch (err) {
        throw new EnvironmentError('MS_HOST_STORE', `cannot read host key file ${JSON.stringify(file)}: ${(err as Error).message}`, { cause: err });
      }
      if (!cert?.secret || cert.primary.fpr !== name.slice(0, -4)) {
        throw new EnvironmentError('MS_HOST_STORE', `host key file ${JSON.stringify(file)} does not hold the secret key it is named after`);
      }
      out.push({ fpr: cert.primary.fpr, cert, file });
    }
    return out;
  }

  /**
   * Selects host keys: every one when `ids` is empty (or `all`); otherwise each KEYID
   * must be a hex suffix of one fingerprint (`0x` allowed).
   * @throws NotFoundError (MS_HOST_NO_KEY, MS_HOST_KEY_NOT_FOUND), UsageError (MS_HOST_KEYID, MS_HOST_KEY_AMBIGUOUS)
   */
  selectMany(ids: string[], all = false): HostKey[] {
    const keys = this.list();
    if (keys.length === 0) throw noHostKey();
    if (all || ids.length === 0) return keys;
    const out: HostKey[] = [];
    for (const id of ids) {
      const k = matchKey(keys, id);
      if (!out.includes(k)) out.push(k);
    }
    return out;
  }

  /**
   * The one host key named by `keyId`, which may be omitted when there is only one.
   * @throws as selectMany(); UsageError (MS_HOST_KEYID_REQUIRED) when several keys exist and none was named.
   */
  select(keyId?: string): HostKey {
    const keys = this.list();
    if (keys.length === 0) throw noHostKey();
    if (keyId === undefined || keyId === '') {
      if (keys.length === 1) return keys[0];
      throw new UsageError('MS_HOST_KEYID_REQUIRED', `there are ${keys.length} host keys; say which one (KEYID)`, {
        hints: keys.map((k) => `host key ${k.fpr}`),
      });
    }
    return matchKey(keys, keyId);
  }

  /** Writes a secret certificate (0600, atomically) and refreshes the public file. */
  save(cert: Cert): HostKey {
    if (!cert.secret) throw new MsError('MS_HOST_INTERNAL', `refusing to store public-only certificate ${cert.primary.fpr}`);
    this.ensureDir();
    const file = join(this.paths.keysDir, `${cert.primary.fpr}.pgp`);
    writeFileAtomic(file, writeCert(cert), { mode: 0o600 });
    this.writePublicFile();
    return { fpr: cert.primary.fpr, cert, file };
  }

  /** Removes a host key's file (used to undo a failed import). */
  remove(fpr: string): void {
    rmSync(join(this.paths.keysDir, `${fpr}.pgp`), { force: true });
    this.writePublicFile();
  }

  /** Rewrites $SYSDATADIR/host_keys.pub.pgp from the store (armored, minimal). */
  writePublicFile(): void {
    const keys = this.list();
    const bytes = Buffer.concat(keys.map((k) => writeCert(minimalPublicCert(k.cert))));
    mkdirSync(this.paths.sysDataDir, { recursive: true });
    if (keys.length === 0) {
      rmSync(this.paths.pubFile, { force: true });
      return;
    }
    writeFileAtomic(this.paths.pubFile, armor('PUBLIC KEY BLOCK', bytes), { mode: 0o644 });
  }

  /** Problems with the store's permissions: the directory must be 0700 and key files 0600, owned by root or the running user. */
  permissionProblems(): string[] {
    const problems: string[] = [];
    const uid = process.getuid?.() ?? 0;
    const check = (path: string, mode: number) => {
      try {
        const st = statSync(path);
        if ((st.mode & 0o777) !== mode) problems.push(`${path} has mode ${(st.mode & 0o777).toString(8)}, expected ${mode.toString(8)}`);
        if (st.uid !== 0 && st.uid !== uid) problems.push(`${path} is owned by uid ${st.uid}`);
      } catch {
        // Absent: nothing to report here; "no host key" is reported elsewhere.
      }
    };
    check(this.paths.keysDir, 0o700);
    for (const k of this.list()) check(k.file, 0o600);
    return problems;
  }
}

function noHostKey(): NotFoundError {
  return new NotFoundError('MS_HOST_NO_KEY', "You don't appear to have a Monkeysphere host key on this server.", {
    hints: ["run 'monkeysphere-host import-key FILE SERVICENAME' first"],
  });
}

function matchKey(keys: HostKey[], keyId: string): HostKey {
  const ref = parseKeyRef(keyId);
  if (!ref) throw new UsageError('MS_HOST_KEYID', `${JSON.stringify(keyId)} is not a key ID (hex digits of the fingerprint)`);
  const found = keys.filter((k) => ref.matches(k.fpr));
  if (found.length === 0) {
    throw new NotFoundError('MS_HOST_KEY_NOT_FOUND', `No host key found matching ${JSON.stringify(keyId)}.`, { hints: keys.map((k) => `host key ${k.fpr}`) });
  }
  if (found.length > 1) {
    throw new UsageError('MS_HOST_KEY_AMBIGUOUS', `Key ID ${JSON.stringify(keyId)} matches ${found.length} host keys; give more of the fingerprint.`, {
      hints: found.map((k) => `host key ${k.fpr}`),
    });
  }
  return found[0];
}
