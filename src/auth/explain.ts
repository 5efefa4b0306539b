/**
 * Why a user ID does or does not let someone in: for each certificate carrying it, the
 * binding's validity as the trust engine explains it (paths from the trust core through
 * the certifiers, or what is missing), and for each key whether sshd is given it, and if
 * not, why. What `explain` prints, and what update-users and keys-for-user log.
 * Not here: the rules themselves (compute.ts grants keys; wot/ decides validity).
 */
import type { EvaluatedCert } from '../cert/types.js';
import type { UnixTime } from '../clock.js';
import type { Cert } from '../openpgp/cert.js';
import { KeyFlag, SigType } from '../openpgp/signature.js';
import { keyIdOf } from '../openpgp/fingerprint.js';
import { hasSshForm, sshLineFromKeyPacket } from '../ssh/openpgp.js';
import { sshFingerprint } from '../ssh/public-key.js';
import { quoted } from '../util/printable.js';
import { Verifier } from '../verify/verifier.js';
import { formatExplanation, reasonText, validityWord } from '../wot/format.js';
import type { Explanation } from '../wot/network.js';
import type { AccountCertifier } from './account-certifiers.js';
import { accountReach, loadNetwork, serverNetwork } from './compute.js';
import type { AuthStore } from './store.js';

export interface KeyVerdict {
  role: 'primary key' | 'subkey';
  fpr: string;
  /** `type base64`, when the key has an SSH form. */
  sshKey?: string;
  /** SHA256:… as ssh-keygen -l and sshd's log show it. */
  sshFingerprint?: string;
  accepted: boolean;
  /** Why not, in words; undefined when accepted. */
  why?: string;
}

export interface CertExplanation {
  fpr: string;
  binding: Explanation;
  keys: KeyVerdict[];
}

export interface UserIdExplanation {
  userId: string;
  certs: CertExplanation[];
}

/** Each key of a certificate and whether it is granted, given whether the user ID is fully valid (the rules of compute.ts grantedKeys). */
export function keyVerdicts(ev: EvaluatedCert, bindingValid: boolean): KeyVerdict[] {
  const primaryValid = ev.primary.status === 'valid';
  const one = (role: KeyVerdict['role'], state: { status: string; flags: number; key: EvaluatedCert['primary']['key'] }): KeyVerdict => {
    const ssh = hasSshForm(state.key) ? sshLineFromKeyPacket(state.key) : undefined;
    const base = { role, fpr: state.key.fpr, sshKey: ssh, sshFingerprint: ssh ? sshFingerprint(Buffer.from(ssh.split(' ')[1], 'base64')) : undefined };
    let why: string | undefined;
    if (state.status !== 'valid') why = `the ${role} is ${state.status}`;
    else if (!(state.flags & KeyFlag.Authenticate)) why = `the ${role} is not marked for authentication`;
    else if (!ssh) why = `the ${role}'s algorithm has no SSH form`;
    else if (role === 'subkey' && !primaryValid) why = `the primary key is ${ev.primary.status}`;
    else if (!bindingValid) why = 'the user ID is not fully valid';
    return { ...base, accepted: why === undefined, why };
  };
  return [one('primary key', ev.primary), ...ev.subkeys.map((s) => one('subkey', s))];
}

/**
 * Explains each user ID against the store at `now`: every stored certificate carrying it
 * exactly (whether or not the core's web reaches it), and every one of `extra` (fetched,
 * not stored), with the engine's explanation.
 */
export async function explainUserIds(store: AuthStore, userIds: string[], now: UnixTime, extra: Cert[] = [], accountCertifiers: AccountCertifier[] = []): Promise<UserIdExplanation[]> {
  const { coreFpr } = await store.state();
  const carriers = new Map<string, Cert[]>();
  const carries = (c: Cert, uid: string) => c.users.some((u) => u.kind === 'userid' && u.text === uid);
  for (const uid of new Set(userIds)) {
    const found = (await store.searchUserIds(uid)).map((s) => s.cert).filter((c) => carries(c, uid));
    // Certificates not stored (fetched just now by a reader that may not write) take the place of stored ones.
    const added = extra.filter((c) => carries(c, uid));
    const fprs = new Set(added.map((c) => c.primary.fpr));
    carriers.set(uid, [...found.filter((c) => !fprs.has(c.primary.fpr)), ...added]);
  }
  if (!coreFpr) return userIds.map((userId) => ({ userId, certs: [] }));
  const reach = accountCertifiers.length > 0 ? await accountReach(store, accountCertifiers, [...carriers.values()].flat()) : [];
  const { keyring } = await loadNetwork(store, coreFpr, [...reach, ...[...carriers.values()].flat()]);
  const { network, evaluated } = await serverNetwork(keyring, coreFpr, now, new Verifier({ cache: store.cache }), 'explanations', accountCertifiers);
  return userIds.map((userId) => ({
    userId,
    certs: (carriers.get(userId) ?? []).map((c) => {
      const binding = network.explain(c.primary.fpr, userId);
      const ev = evaluated.get(c.primary.fpr);
      return { fpr: c.primary.fpr, binding, keys: ev ? keyVerdicts(ev, binding.valid) : [] };
    }),
  }));
}

/** The certifier that vouches for a valid binding (the first key after the core on its first path), for one-line logs. */
export function vouchedBy(e: Explanation): string | undefined {
  const p = e.paths[0];
  if (!p || p.nodes.length < 2) return undefined;
  const certifier = p.nodes.length > 2 ? p.nodes[1] : p.nodes[0];
  return `${certifier.fingerprint}${certifier.userId !== undefined ? ` ${quoted(certifier.userId)}` : ''}`;
}

/** One sentence on a binding: valid and through whom, or why not. */
export function bindingSummary(e: Explanation): string {
  if (e.valid) {
    const by = vouchedBy(e);
    return `${validityWord(e.validity)}${by ? `, certified through ${by}` : ''}`;
  }
  const why = e.reasons.map(reasonText);
  return `${validityWord(e.validity)}${why.length > 0 ? `: ${why.join('; ')}` : ''}`;
}

/** `explain`'s text for one user ID. */
export function formatUserIdExplanation(x: UserIdExplanation, listed: boolean): string {
  const lines = [`user ID ${quoted(x.userId)}${listed ? '' : ' (not listed in the account\'s authorized_user_ids)'}:`];
  if (x.certs.length === 0) lines.push('  no certificate in the store carries this user ID exactly, so it grants no key');
  for (const c of x.certs) {
    lines.push(...formatExplanation(c.binding).split('\n').map((l) => `  ${l}`));
    lines.push('    Keys:');
    for (const k of c.keys) {
      const what = `${k.role} ${k.fpr}${k.sshFingerprint ? ` (${k.sshFingerprint})` : ''}`;
      lines.push(k.accepted ? `      accepted: ${what}` : `      not given to sshd: ${what}: ${k.why}`);
    }
  }
  return lines.join('\n');
}

/**
 * Why a key is (or is no longer) granted for a user ID, in one sentence, from that user ID's
 * explanation: the binding's summary, and the key's own reason when it is the key at fault.
 */
export function whyKey(x: UserIdExplanation | undefined, sshKey: string, removed = false): string {
  for (const c of x?.certs ?? []) {
    const k = c.keys.find((v) => v.sshKey === sshKey);
    if (!k) continue;
    const binding = `certificate ${c.fpr}: ${bindingSummary(c.binding)}`;
    // Still granted by the web of trust, yet gone: the account stopped listing the user ID.
    if (removed && k.accepted) return `the account no longer lists this user ID (${binding})`;
    return k.accepted || k.why === 'the user ID is not fully valid' ? binding : `${binding}; ${k.why}`;
  }
  return 'no stored certificate carries this key with this user ID';
}

/** `SHA256:…` of a `type base64` key. */
export function sshKeyFingerprint(sshKey: string): string {
  return sshFingerprint(Buffer.from(sshKey.split(' ')[1] ?? '', 'base64'));
}

/**
 * The short form for VERBOSE logs, as the original's `processing: UID` lines: each user
 * ID, each certificate's verdict in one sentence, each key accepted or not and why.
 */
export function verboseLines(x: UserIdExplanation): string[] {
  const lines = [`processing: ${quoted(x.userId)}`];
  if (x.certs.length === 0) lines.push('  no certificate in the store carries this user ID');
  for (const c of x.certs) {
    lines.push(`  certificate ${c.fpr}: ${bindingSummary(c.binding)}`);
    for (const k of c.keys) {
      const what = `${k.role} ${k.fpr}${k.sshFingerprint ? ` (${k.sshFingerprint})` : ''}`;
      lines.push(k.accepted ? `    accepted: ${what}` : `    not given to sshd: ${what}: ${k.why}`);
    }
  }
  return lines;
}

/**
 * The identity certifiers whose good certification of `uid` on `target` stands now: the
 * cheap answer to "who vouched" for one binding the precomputed bindings already call
 * valid, for the login log (a full explanation costs a whole computation). Certifiers are
 * the keys the core trust-signs now, and the account's own; a binding made valid only
 * through longer chains gets none (say so and point to `explain`).
 */
export async function vouchingCertifiers(store: AuthStore, target: Cert, uid: string, now: UnixTime, accountCertifiers: AccountCertifier[] = []): Promise<Array<{ fpr: string; userId?: string }>> {
  const { coreFpr } = await store.state();
  if (!coreFpr) return [];
  const user = target.users.find((u) => u.kind === 'userid' && u.text === uid);
  if (!user) return [];
  const issuerIds = new Set(user.signatures.flatMap((e) => (e.sig ? [...e.sig.issuerFingerprints.map(keyIdOf), ...e.sig.issuerKeyIds] : [])));
  const tsigned = (await store.certifiedBy([keyIdOf(coreFpr)])).filter((r) => r.tsig).map((r) => r.fpr);
  const candidates = [...new Set([...tsigned, ...accountCertifiers.map((c) => c.fpr)])].filter((f) => issuerIds.has(keyIdOf(f)));
  if (candidates.length === 0) return [];
  const [core, ...certs] = await store.loadCerts([coreFpr, ...candidates]);
  const { trustSignedBy } = await import('./certifiers.js');
  const current = new Set([...(await trustSignedBy(store.cache, core, certs, now)).map((e) => e.fpr), ...accountCertifiers.map((c) => c.fpr)]);
  const { evaluateCerts } = await import('../cert/evaluate.js');
  const { Keyring } = await import('../keyring/keyring.js');
  const [ev] = await evaluateCerts([target], new Keyring([target, ...certs]), { now, verifier: new Verifier({ cache: store.cache }), certifications: (issuer) => current.has(issuer) });
  const certified = new Set(
    ev.userIds
      .filter((u) => u.component.kind === 'userid' && u.text === uid)
      .flatMap((u) => u.certifications)
      .filter((c) => c.outcome === 'good' && c.issuer !== undefined && current.has(c.issuer) && c.type !== SigType.CertRevocation && (c.expires === undefined || c.expires > now))
      .map((c) => c.issuer as string),
  );
  return certs.filter((c) => certified.has(c.primary.fpr)).map((c) => ({ fpr: c.primary.fpr, userId: c.users.find((u) => u.kind === 'userid')?.text }));
}
