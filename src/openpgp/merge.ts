/**
 * Canonical certificates and merging two copies of one, as GnuPG's import and SKS do.
 *
 * A canonical certificate holds each user ID, user attribute and subkey once, with every
 * signature made on it gathered under that one packet, and no signature twice on one
 * component. Evaluation reads one component per identity; if a copy carried a user ID or
 * subkey twice, a revocation merged onto one duplicate would go unseen while the other
 * still bound it (gpg collapses duplicates on import: import.c collapse_uids and
 * collapse_subkeys). So every certificate is canonicalised where it enters (keyring,
 * store, evaluation), and merging collapses duplicates in both inputs.
 *
 * User IDs and attributes are matched by packet body, subkeys by fingerprint, signatures
 * by body: a packet re-encoded with another header format is still the same packet.
 */
import { InputError } from '../errors.js';
import type { Cert, SigEntry, SubkeyComponent, UserComponent } from './cert.js';
import type { KeyPacket } from './key-packet.js';
import type { Packet } from './packets.js';

/** Exact bytes as a string key (latin1 keeps one character per byte, cheaper than base64). */
const userKey = (u: UserComponent) => `${u.packet.tag}:${u.packet.body.toString('latin1')}`;

function hasDuplicates<T>(items: readonly T[], key: (item: T) => string): boolean {
  if (items.length < 2) return false;
  const seen = new Set<string>();
  for (const item of items) {
    const k = key(item);
    if (seen.has(k)) return true;
    seen.add(k);
  }
  return false;
}

/** Bodies compared one by one in a bucket up to this many; then the bucket keys them whole. */
const SMALL_BUCKET = 8;

/**
 * A signature list that ignores signatures it already holds (same body). This runs on
 * every certificate that enters, so bodies are bucketed by length and last bytes (the
 * signature value, unique but for copies) and compared whole only within a bucket. Junk
 * crafted to share those bytes fills one bucket, which then keys whole bodies, so the
 * cost stays linear.
 */
class SigSet {
  readonly list: SigEntry[] = [];
  private readonly buckets = new Map<string, Buffer[] | Set<string>>();
  /** Adds `s` unless held; returns whether it was new. */
  add(s: SigEntry): boolean {
    const body = s.packet.body;
    const k = `${body.length}:${body.subarray(-16).toString('latin1')}`;
    const bucket = this.buckets.get(k);
    if (!bucket) this.buckets.set(k, [body]);
    else if (Array.isArray(bucket)) {
      if (bucket.some((b) => b.equals(body))) return false;
      bucket.push(body);
      if (bucket.length > SMALL_BUCKET) this.buckets.set(k, new Set(bucket.map((b) => b.toString('latin1'))));
    } else {
      const whole = body.toString('latin1');
      if (bucket.has(whole)) return false;
      bucket.add(whole);
    }
    this.list.push(s);
    return true;
  }
  addAll(sigs: readonly SigEntry[]): void {
    for (const s of sigs) this.add(s);
  }
}

function hasDuplicateSigs(sigs: readonly SigEntry[]): boolean {
  if (sigs.length < 2) return false;
  const set = new SigSet();
  for (const s of sigs) if (!set.add(s)) return true;
  return false;
}

/** True when no user ID, attribute, subkey or (per component) signature appears twice. */
export function isCanonical(cert: Cert): boolean {
  if (hasDuplicates(cert.users, userKey) || hasDuplicates(cert.subkeys, (s) => s.key.fpr)) return false;
  if (hasDuplicateSigs(cert.directSigs)) return false;
  for (const u of cert.users) if (hasDuplicateSigs(u.signatures)) return false;
  for (const s of cert.subkeys) if (hasDuplicateSigs(s.signatures)) return false;
  return true;
}

/**
 * The union of copies of one certificate, each component once, in order of first
 * appearance (the first copy's order, then what only later copies have). The first
 * packet seen for a component is kept. Trust and unknown packets are left out, as gpg's
 * import leaves them out.
 */
function collapse(primary: KeyPacket, copies: readonly Cert[], secret: boolean): Cert {
  const direct = new SigSet();
  const users = new Map<string, { component: UserComponent; sigs: SigSet }>();
  const subkeys = new Map<string, { component: SubkeyComponent; sigs: SigSet }>();
  for (const copy of copies) {
    direct.addAll(copy.directSigs);
    for (const u of copy.users) {
      const k = userKey(u);
      let entry = users.get(k);
      if (!entry) {
        entry = { component: u, sigs: new SigSet() };
        users.set(k, entry);
      }
      entry.sigs.addAll(u.signatures);
    }
    for (const s of copy.subkeys) {
      let entry = subkeys.get(s.key.fpr);
      if (!entry) {
        entry = { component: s, sigs: new SigSet() };
        subkeys.set(s.key.fpr, entry);
      }
      entry.sigs.addAll(s.signatures);
    }
  }
  // Loops rather than push(...spread): a component may carry more signatures than a call takes arguments.
  const packets: Packet[] = [primary.packet];
  const append = (sigs: readonly SigEntry[]) => {
    for (const s of sigs) packets.push(s.packet);
  };
  append(direct.list);
  const userList: UserComponent[] = [];
  for (const { component, sigs } of users.values()) {
    userList.push({ ...component, signatures: sigs.list });
    packets.push(component.packet);
    append(sigs.list);
  }
  const subkeyList: SubkeyComponent[] = [];
  for (const { component, sigs } of subkeys.values()) {
    subkeyList.push({ ...component, signatures: sigs.list });
    packets.push(component.key.packet);
    append(sigs.list);
  }
  return { primary, directSigs: direct.list, users: userList, subkeys: subkeyList, secret, packets };
}

/**
 * The certificate in canonical form: the same object when it already is one (so its
 * bytes round-trip exactly), else a new one with duplicates collapsed. The input is not
 * modified.
 */
export function canonicalCert(cert: Cert): Cert {
  return isCanonical(cert) ? cert : collapse(cert.primary, [cert], cert.secret);
}

/**
 * Merges `b` into `a` (same primary key): a canonical certificate that keeps a's order
 * and appends what only b has, like GnuPG's import; duplicates within either input are
 * collapsed too. Neither input is modified.
 * @throws InputError (MS_CERT_MERGE_MISMATCH) when the primary keys differ.
 */
export function mergeCerts(a: Cert, b: Cert): Cert {
  if (a.primary.fpr !== b.primary.fpr) {
    throw new InputError('MS_CERT_MERGE_MISMATCH', `cannot merge certificates ${a.primary.fpr} and ${b.primary.fpr}`);
  }
  return collapse(a.primary, [a, b], a.secret || b.secret);
}
