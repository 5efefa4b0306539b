/**
 * The service-name rules of the host tool: a name is added only where it is not already
 * valid, revoked only where it is not already revoked, and a name in use on another host
 * key is reported (the command then asks, or notes it).
 */
import { NotFoundError, UsageError } from '../errors.js';
import type { Cert } from '../openpgp/cert.js';
import { evaluateHostCert } from './operations.js';
import type { HostKey } from './store.js';

/** Whether `cert` carries `name` as a valid user ID at `now`. */
export async function hasValidName(cert: Cert, name: string, now: number): Promise<boolean> {
  const ev = await evaluateHostCert(cert, now);
  return ev.userIds.some((u) => u.text === name && u.status === 'valid');
}

/** @throws UsageError (MS_HOST_NAME_EXISTS) when `key` already carries `name`, valid. */
export async function checkNameAddable(key: HostKey, name: string, now: number): Promise<void> {
  if (await hasValidName(key.cert, name, now)) throw new UsageError('MS_HOST_NAME_EXISTS', `Service name '${name}' already exists on key '${key.fpr}'.`);
}

/** @throws NotFoundError (MS_HOST_NAME_NOT_FOUND) unless `key` carries `name`, not revoked. */
export async function checkNameRevocable(key: HostKey, name: string, now: number): Promise<void> {
  const ev = await evaluateHostCert(key.cert, now);
  if (!ev.userIds.some((u) => u.text === name && u.status !== 'revoked')) {
    throw new NotFoundError('MS_HOST_NAME_NOT_FOUND', `No non-revoked service name found matching '${name}'.`);
  }
}

/** Fingerprints of the host keys that carry `name`, valid, at `now`. */
export async function keysWithName(keys: readonly HostKey[], name: string, now: number): Promise<string[]> {
  const out: string[] = [];
  for (const k of keys) if (await hasValidName(k.cert, name, now)) out.push(k.fpr);
  return out;
}
