/**
 * authorized_keys lines as Monkeysphere writes them:
 * `[<options> ]<type> <base64> MonkeySphere<YYYY-MM-DDTHH:MM:SS> <user ID>`.
 */
import { toDate, type UnixTime } from '../clock.js';

/** The marker Monkeysphere appends, fixed once per run (`date -u +%FT%T`). */
export function monkeysphereMarker(now: UnixTime): string {
  return `MonkeySphere${toDate(now).toISOString().slice(0, 19)}`;
}

export function authorizedKeysLine(sshKey: string, marker: string, userId: string, options: string): string {
  return `${options ? `${options} ` : ''}${sshKey} ${marker} ${userId}`;
}

