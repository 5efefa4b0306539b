/**
 * Finding one key in a stream of OpenPGP packets, as openpgp2ssh does: by a key ID or
 * fingerprint suffix (`0x` allowed), among every primary key and subkey, public or
 * secret, v4 or v6. Keys with no SSH form are skipped with a note, like the original.
 */
import { MsError, NotFoundError, UsageError } from '../errors.js';
import { dearmor } from '../openpgp/armor.js';
import { type KeyPacket, parseKeyPacket } from '../openpgp/key-packet.js';
import { framePackets, Tag } from '../openpgp/packets.js';
import { hasSshForm } from '../ssh/index.js';
import { type KeyRef, parseKeyRef } from './key-ref.js';

/**
 * Reads a KEYID argument: a key ID, a fingerprint, or at least its last 8 hex digits (`0x` allowed).
 * @throws UsageError (MS_KEYTRANS_KEYID)
 */
export function normalizeKeyId(arg: string): KeyRef {
  const ref = parseKeyRef(arg, 8);
  if (!ref) {
    throw new UsageError('MS_KEYTRANS_KEYID', `${JSON.stringify(arg)} is not a key ID or fingerprint`, {
      hints: ['give at least the last 8 hex digits of the fingerprint, e.g. 0x1234ABCD'],
    });
  }
  return ref;
}

/** Every key packet in the input (armored or binary), with notes on what was skipped. */
export function readKeyPackets(input: Buffer): { keys: KeyPacket[]; notes: string[] } {
  const keys: KeyPacket[] = [];
  const notes: string[] = [];
  for (const { packet, oversized } of framePackets(dearmor(input))) {
    if (![Tag.PublicKey, Tag.PublicSubkey, Tag.SecretKey, Tag.SecretSubkey].includes(packet.tag as 5 | 6 | 7 | 14)) continue;
    if (oversized) {
      notes.push(`skipping an oversized key packet at offset ${packet.offset}`);
      continue;
    }
    try {
      keys.push(parseKeyPacket(packet));
    } catch (err) {
      if (!(err instanceof MsError)) throw err;
      notes.push(`skipping a key: ${err.message}`);
    }
  }
  return { keys, notes };
}

/**
 * The single key `keyId` names (every key when undefined).
 * The same key seen twice (public and secret) counts once; the secret copy wins.
 * @throws UsageError ("Found two matching keys.", MS_KEYTRANS_AMBIGUOUS) when several keys match;
 *         NotFoundError ("No matching key found.", MS_KEYTRANS_NO_MATCH) when none does.
 */
export function selectKey(keys: KeyPacket[], keyId: KeyRef | undefined, notes: string[] = [], usable: (k: KeyPacket) => boolean = hasSshForm): KeyPacket {
  const byFpr = new Map<string, KeyPacket>();
  for (const k of keys) {
    if (keyId !== undefined && !keyId.matches(k.fpr)) continue;
    if (!usable(k)) {
      notes.push(`skipping key ${k.fpr}: public-key algorithm ${k.algorithm} is not supported`);
      continue;
    }
    const seen = byFpr.get(k.fpr);
    if (!seen || (!seen.secretBody && k.secretBody)) byFpr.set(k.fpr, k);
  }
  if (byFpr.size > 1) {
    throw new UsageError('MS_KEYTRANS_AMBIGUOUS', 'Found two matching keys.', {
      hints: [`matching: ${[...byFpr.keys()].join(', ')}; give a longer KEYID`],
      data: { fingerprints: [...byFpr.keys()] },
    });
  }
  const found = [...byFpr.values()][0];
  if (!found) throw new NotFoundError('MS_KEYTRANS_NO_MATCH', 'No matching key found.', { data: { keyId: keyId?.hex } });
  return found;
}
