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
import { appendFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import type { UnixTime } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { Cert } from '../openpgp/cert.js';
import { sshFingerprint } from '../ssh/public-key.js';
import { printable } from '../util/printable.js';
import { type GrantedKey, grantedKeysOf } from './key-changes.js';
import type { AuthStore } from './store.js';

/** The key sshd was offered: its `SHA256:` fingerprint, and `type base64` when sshd passed it. */
export interface OfferedKey {
  fingerprint: string;
  key?: string;
}

const KEY_TYPE = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)$/;

/**
 * Reads sshd's tokens after the user name: `%f` (SHA256:…), or `%t %k`, or `%k` alone.
 * @returns undefined when there are none; a string saying what is wrong otherwise.
 */
export function parseOfferedKey(args: string[]): OfferedKey | string | undefined {
  if (args.length === 0) return undefined;
  if (args.length === 1 && /^SHA256:[A-Za-z0-9+/]{43}$/.test(args[0])) return { fingerprint: args[0] };
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
        appendFileSync(path, `${new Date().toISOString()} ${tag}[${process.pid}]: ${line}\n`);
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
  searchExact(userId: string, opts: { signal: AbortSignal }): Promise<{ certs: Cert[] }>;
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

/** `"uid"` escaped for a log line. */
export function q(text: string): string {
  return JSON.stringify(printable(text));
}
