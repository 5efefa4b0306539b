/**
 * What the login path adds when sshd names the key it was offered
 * (`AuthorizedKeysCommand … %u %f`, or `%u %t %k`):
 *
 * - the decision, logged in one line: which user ID, certificate and certifier authorized
 *   the key, or why nothing did (LOGIN_LOG: syslog, stderr, a file, or none);
 * - just-in-time lookup (LOGIN_KEYSERVER_TIMEOUT seconds, 0 = off): when the offered key
 *   is not granted, the account's user IDs are looked up on the keyserver within that
 *   bound, and the answer recomputed with what came back;
 * - a freshness bound (REFRESH_MAX_AGE seconds, 0 = off): when the certificate that
 *   grants the key was last confirmed by the keyserver longer ago than that, it is
 *   refreshed within the same bound first, so a revocation published since counts.
 *
 * What was fetched is stored through the one ingest path when the store is writable
 * (root); a reader that may not write (AuthorizedKeysCommandUser) evaluates it in memory,
 * with the same engine, and stores nothing. A keyserver that is down or slow costs the
 * bound and no more; then the stored answer stands.
 */
import { closeSync, constants, fstatSync, futimesSync, lstatSync, openSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { UnixTime } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Cert } from '../openpgp/cert.js';
import { sshFingerprint } from '../ssh/public-key.js';
import { type GrantedKey, grantedKeysOf } from './key-changes.js';
import type { AuthStore } from './store.js';

/** The key sshd was offered: its `SHA256:` fingerprint, and `type base64` when sshd passed it. */
export interface OfferedKey {
  fingerprint: string;
  key?: string;
}

/** Key type names as sshd passes %t: plain keys, security keys, OpenSSH certificates. */
const KEY_TYPE = /^[a-z0-9][a-z0-9@.-]{2,80}$/;

/**
 * Reads sshd's tokens after the user name: `%f` (SHA256:…, or MD5:… under FingerprintHash
 * md5, which matches no key here), or `%t %k`, or `%k` alone. A key of a kind we do not
 * grant (an OpenSSH certificate) is still an offered key: refused and logged, never a
 * usage error that would refuse every key.
 * @returns undefined when there are none; a string saying what is wrong otherwise.
 */
export function parseOfferedKey(args: string[]): OfferedKey | string | undefined {
  if (args.length === 0) return undefined;
  if (args.length === 1 && /^(SHA256:[A-Za-z0-9+/]{43}|MD5(:[0-9a-f]{2}){16})$/.test(args[0])) return { fingerprint: args[0] };
  const [type, blob] = args.length === 2 ? args : [undefined, args[0]];
  if (args.length > 2 || (type !== undefined && !KEY_TYPE.test(type)) || !/^[A-Za-z0-9+/]+=*$/.test(blob)) {
    return 'expected the offered key as sshd passes it: %f (SHA256:…), or %t %k';
  }
  const bytes = Buffer.from(blob, 'base64');
  const inner = bytes.length > 4 ? bytes.subarray(4, 4 + bytes.readUInt32BE(0)).toString('latin1') : '';
  if (type !== undefined && inner !== type) return `the key blob is of type ${JSON.stringify(inner)}, not ${JSON.stringify(type)}`;
  return { fingerprint: sshFingerprint(bytes), key: `${inner} ${blob}` };
}

/** The line of an authorized_keys text that grants the offered key, if any. */
export function grantFor(content: string, offered: OfferedKey): GrantedKey | undefined {
  return grantedKeysOf(content).find((g) => sshFingerprint(Buffer.from(g.key.split(' ')[1], 'base64')) === offered.fingerprint);
}

/** Where login decisions go: `syslog[:FACILITY.PRIORITY]` (default authpriv.info), `stderr`, `file:PATH`, or `none`. */
export type LoginLog = (line: string) => void;

export function loginLog(spec: string, stderr: { write(s: string): unknown }, tag: string): LoginLog {
  const s = spec.trim();
  if (s === 'none' || s === '') return () => {};
  if (s === 'stderr') return (line) => stderr.write(`${tag}: ${line}\n`);
  if (s.startsWith('file:')) {
    const path = s.slice(5);
    return (line) => {
      try {
        // Never blocks on a FIFO, never follows a symlink (it may run as root), regular files only.
        const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOFOLLOW, 0o640);
        try {
          if (!fstatSync(fd).isFile()) throw new Error('not a regular file');
          writeSync(fd, `${new Date().toISOString()} ${tag}[${process.pid}]: ${line}\n`);
        } finally {
          closeSync(fd);
        }
      } catch (err) {
        stderr.write(`${tag}: error: cannot write the login log ${JSON.stringify(path)}: ${errorMessage(err)}\n`);
      }
    };
  }
  const priority = s.startsWith('syslog:') ? s.slice(7) : 'authpriv.info';
  return (line) => {
    // logger(1) (util-linux, in every Debian) speaks to syslog or the journal; not waited for.
    const child = spawn('logger', ['--id', String(process.pid), '-t', tag, '-p', priority, '--', line], { stdio: 'ignore', detached: true });
    child.on('error', (err) => stderr.write(`${tag}: error: cannot run logger: ${err.message}\n`));
    child.unref();
  };
}

/** Something that finds certificates on a keyserver (src/keyserver/client.ts). */
export interface LoginKeyserver {
  searchExact(userId: string, opts: { signal: AbortSignal }): Promise<{ certs: Cert[]; unfetched?: Array<{ error: { message: string } }> }>;
  getByFingerprint(fpr: string, opts: { signal: AbortSignal }): Promise<{ certs: Cert[] }>;
}

/**
 * Runs keyserver lookups side by side, all abandoned at `timeoutMs`; returns what arrived
 * in time (failures count as nothing found) and whether the bound was hit.
 */
export async function lookupWithin(timeoutMs: number, lookups: Array<(signal: AbortSignal) => Promise<Cert[]>>): Promise<{ certs: Cert[]; timedOut: boolean; errors: string[] }> {
  const controller = new AbortController();
  const certs: Cert[] = [];
  const errors: string[] = [];
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`keyserver lookup took longer than ${timeoutMs} ms`));
  }, timeoutMs);
  const bound = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }));
  try {
    const all = Promise.all(
      lookups.map(async (lookup) => {
        try {
          certs.push(...(await lookup(controller.signal)));
        } catch (err) {
          if (!controller.signal.aborted) errors.push(errorMessage(err));
        }
      }),
    );
    await Promise.race([all, bound]);
  } finally {
    clearTimeout(timer);
  }
  return { certs, timedOut, errors };
}

const CHECKED = 'auth.checked.';

/** When the keyserver last confirmed certificate `fpr` (refresh-keys or a login refresh); undefined for never. */
export async function lastChecked(store: AuthStore, fpr: string): Promise<UnixTime | undefined> {
  const v = await store.store.meta.getMeta(`${CHECKED}${fpr}`);
  return v === undefined ? undefined : Number(v);
}

/** Records that the keyserver confirmed these certificates at `now` (writable stores only). */
export async function recordChecked(store: AuthStore, fprs: string[], now: UnixTime): Promise<void> {
  if (store.readonly) return;
  for (const fpr of fprs) await store.store.meta.setMeta(`${CHECKED}${fpr}`, String(now));
}

/** Login-time keyserver lookups per account: at most one per this many seconds. */
export const LOOKUP_INTERVAL = 60;

/**
 * Whether a login may ask the keyserver for `account` now: at most once a minute per
 * account, shared by every sshd child (the mtime of a file per account in `dir`), because
 * anyone who connects can offer keys, each of which would otherwise cost a lookup. When
 * the time cannot be recorded (the directory is missing or not writable), no lookup.
 */
export function mayLookUp(dir: string, account: string, now: UnixTime): { ok: boolean; why?: string } {
  const path = join(dir, account);
  try {
    const last = Math.floor(lstatSync(path).mtimeMs / 1000);
    if (now >= last && now - last < LOOKUP_INTERVAL) return { ok: false, why: `a keyserver lookup for this account was made ${now - last} s ago (at most one per ${LOOKUP_INTERVAL} s)` };
  } catch {
    // Never looked up: go on.
  }
  try {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o660);
    try {
      if (!fstatSync(fd).isFile()) return { ok: false, why: `${path} is not a regular file` };
      futimesSync(fd, now, now);
    } finally {
      closeSync(fd);
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, why: `cannot record the lookup in ${dir} (${errorMessage(err)}); run monkeysphere-authentication setup as root` };
  }
}

/** The largest saved lookup answer read back (bytes). */
const MAX_SAVED = 256 * 1024;

/**
 * What a login-time lookup brought, kept for the minute in which no other lookup is made
 * (`dir`/ACCOUNT.pgp), for readers that may not write the store: sshd asks twice for an
 * accepted key (the probe, then the signature) and the second ask must see what the
 * first fetched. It is only ever evaluated like a keyserver answer, never trusted.
 */
export function saveFetched(dir: string, account: string, certs: Cert[], now: UnixTime): void {
  const bytes = Buffer.concat(certs.flatMap((c) => c.packets.map((p) => p.raw)));
  if (bytes.length > MAX_SAVED) return;
  const tmp = join(dir, `.${account}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, bytes, { mode: 0o660, flag: 'wx' });
    // Stamped with the reference time, as the lookup itself (mayLookUp).
    utimesSync(tmp, now, now);
    renameSync(tmp, join(dir, `${account}.pgp`));
  } catch {
    // Not kept: the next ask within the minute answers from the store alone.
    rmSync(tmp, { force: true });
  }
}

/** The saved answer for `account` when it is from the current lookup minute; [] otherwise. */
export function loadFetched(dir: string, account: string, now: UnixTime, parse: (bytes: Buffer) => Cert[]): Cert[] {
  let fd: number;
  try {
    fd = openSync(join(dir, `${account}.pgp`), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  try {
    const st = fstatSync(fd);
    const age = now - Math.floor(st.mtimeMs / 1000);
    if (!st.isFile() || st.size > MAX_SAVED || age < 0 || age >= LOOKUP_INTERVAL) return [];
    return parse(readFileSync(fd));
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
}
