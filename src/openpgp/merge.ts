/**
 * Merging two copies of one certificate, as GnuPG and SKS do: a packet union without
 * duplicates. Components are matched by their packet body; signatures by their body,
 * so a packet re-encoded with another header format is still the same packet.
 */
import { InputError } from '../errors.js';
import type { Cert, SigEntry, SubkeyComponent, UserComponent } from './cert.js';
import type { Packet } from './packets.js';

function bodyKey(p: Packet): string {
  return `${p.tag}:${p.body.toString('base64')}`;
}

function unionSigs(a: SigEntry[], b: SigEntry[]): SigEntry[] {
  const seen = new Set(a.map((s) => s.packet.body.toString('base64')));
  const out = [...a];
  for (const s of b) {
    const k = s.packet.body.toString('base64');
    if (!seen.has(k)) {
      seen.add(k);
      out.push(s);
    }
  }
  return out;
}

/**
 * Merges `b` into `a` (same primary key). The result keeps a's order and appends what
 * only b has, like GnuPG's import; neither input is modified.
 * @throws InputError (MS_CERT_MERGE_MISMATCH) when the primary keys differ.
 */
export function mergeCerts(a: Cert, b: Cert): Cert {
  if (a.primary.fpr !== b.primary.fpr) {
    throw new InputError('MS_CERT_MERGE_MISMATCH', `cannot merge certificates ${a.primary.fpr} and ${b.primary.fpr}`);
  }
  const directSigs = unionSigs(a.directSigs, b.directSigs);

  const users: UserComponent[] = a.users.map((u) => ({ ...u, signatures: [...u.signatures] }));
  const userIndex = new Map(users.map((u, i) => [bodyKey(u.packet), i]));
  for (const u of b.users) {
    const i = userIndex.get(bodyKey(u.packet));
    if (i === undefined) {
      userIndex.set(bodyKey(u.packet), users.length);
      users.push({ ...u, signatures: [...u.signatures] });
    } else users[i].signatures = unionSigs(users[i].signatures, u.signatures);
  }

  const subkeys: SubkeyComponent[] = a.subkeys.map((s) => ({ ...s, signatures: [...s.signatures] }));
  const subIndex = new Map(subkeys.map((s, i) => [s.key.fpr, i]));
  for (const s of b.subkeys) {
    const i = subIndex.get(s.key.fpr);
    if (i === undefined) {
      subIndex.set(s.key.fpr, subkeys.length);
      subkeys.push({ ...s, signatures: [...s.signatures] });
    } else subkeys[i].signatures = unionSigs(subkeys[i].signatures, s.signatures);
  }

  const packets: Packet[] = [a.primary.packet, ...directSigs.map((s) => s.packet)];
  for (const u of users) packets.push(u.packet, ...u.signatures.map((s) => s.packet));
  for (const s of subkeys) packets.push(s.key.packet, ...s.signatures.map((x) => x.packet));
  return { primary: a.primary, directSigs, users, subkeys, secret: a.secret || b.secret, packets };
}
