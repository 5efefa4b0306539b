/**
 * Evaluating certificates at a reference time, with GnuPG 2.2's rules (getkey.c
 * merge_selfsigs): which self-signatures bind user IDs and subkeys, key and subkey
 * expiry and revocation (including designated revokers), and the outcome of every
 * third-party certification. Signatures are verified in batches through the Verifier
 * (and its cache): of a component's binding candidates only the newest that verifies is
 * needed, and third-party certifications can be left for later, by issuer.
 */
import type { Keyring } from '../keyring/keyring.js';
import { HASH_NAMES } from '../openpgp/algorithms.js';
import type { Cert, SigEntry, SubkeyComponent, UserComponent } from '../openpgp/cert.js';
import { keyIdOf } from '../openpgp/fingerprint.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { canonicalCert } from '../openpgp/merge.js';
import { Tag } from '../openpgp/packets.js';
import type { SigTarget } from '../openpgp/signed-data.js';
import { isHardRevocation, KeyFlag, parseSignature, type RevocationKey, type Signature, SigType, signatureExpiry } from '../openpgp/signature.js';
import type { SigCheck, SignatureVerifier } from '../verify/verifier.js';
import { certificationRejection, DEFAULT_POLICY, type Policy, selfSignatureRejection, timeConflict } from './policy.js';
import type { Certification, EvaluatedCert, PrimaryState, Revocation, Status, SubkeyState, UserIdState } from './types.js';

export interface EvaluateOptions {
  /** Reference time, Unix seconds. */
  now: number;
  verifier: SignatureVerifier;
  policy?: Policy;
  /**
   * Which third-party certifications to verify now, by issuer fingerprint (default: all).
   * The others stay `unchecked` until checkCertifications is called for their issuers.
   */
  certifications?: boolean | ((issuer: string) => boolean);
  /**
   * List third-party certifications on the user IDs (default true). false leaves every user
   * ID's `certifications` empty, for callers that read only the bindings (a keyserver's index).
   */
  thirdParty?: boolean;
  /** Evaluate subkeys (default true); the web of trust needs only the primary key and user IDs. */
  subkeys?: boolean;
}

const isCertificationType = (t: number) => t >= SigType.GenericCert && t <= SigType.PositiveCert;

/** Whether `sig` names `key` as its issuer (fingerprint when given, else key ID). */
export function issuedBy(sig: Signature, key: KeyPacket): boolean {
  if (sig.issuerFingerprints.length > 0) return sig.issuerFingerprints.includes(key.fpr);
  return sig.issuerKeyIds.includes(key.keyId);
}

/**
 * Verification outcomes by signature and by what it was checked over (the primary key,
 * user ID packet or subkey), so one signature object seen in two places is judged twice.
 */
class Outcomes {
  private readonly bySig = new Map<Signature, Map<object, boolean>>();
  get(sig: Signature, over: object): boolean | undefined {
    return this.bySig.get(sig)?.get(over);
  }
  set(sig: Signature, over: object, ok: boolean): void {
    let m = this.bySig.get(sig);
    if (!m) {
      m = new Map();
      this.bySig.set(sig, m);
    }
    if (ok || !m.has(over)) m.set(over, ok);
  }
}

/** The object a check is made over: the discriminator of Outcomes. */
function overOf(target: SigTarget): object {
  return target.kind === 'user' ? target.user : target.kind === 'subkey' ? target.subkey : target.primary;
}

/**
 * What a certificate's self-signatures need verified. `always`: direct-key signatures,
 * revocations (key, designated revoker, subkey) and attestations, all of which count
 * when any one verifies. `newestFirst`: per user ID and per subkey, the candidates for
 * its binding, newest first; only the first that verifies is chosen, so older ones are
 * verified only when every newer one fails (gpg's choice, with far fewer checks).
 */
interface SelfChecks {
  always: SigCheck[];
  newestFirst: SigCheck[][];
}

/** Newest first by creation time; on equal times the later packet first (gpg's `>=`). */
function newestFirst<T>(items: readonly T[], sigOf: (item: T) => Signature): T[] {
  return items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => sigOf(b.item).created - sigOf(a.item).created || b.i - a.i)
    .map((x) => x.item);
}

/** The newest signature, by the same order. */
function newest(sigs: Signature[]): Signature | undefined {
  return newestFirst(sigs, (s) => s)[0];
}

/** Self-signatures that can bind a user ID: certifications and certification revocations by the primary key. */
const bindsUserId = (sig: Signature, primary: KeyPacket) => issuedBy(sig, primary) && (isCertificationType(sig.type) || sig.type === SigType.CertRevocation);

/** Self-signatures that can bind a subkey at `now`: unexpired subkey bindings by the primary key. */
const bindsSubkey = (sig: Signature, primary: KeyPacket, now: number) => sig.type === SigType.SubkeyBinding && issuedBy(sig, primary) && signatureExpiry(sig) > now;

/** The binding gpg uses for a subkey: the newest good one. */
function subkeyBinding(cert: Cert, component: SubkeyComponent, outcomes: Outcomes, now: number, policy: Policy): Signature | undefined {
  const sigs = component.signatures.map((e) => e.sig);
  return newest(sigs.filter((sig): sig is Signature => !!sig && bindsSubkey(sig, cert.primary, now) && good(outcomes, sig, component.key, now, policy, cert.primary.created)));
}

function collectSelfChecks(cert: Cert, keyring: Keyring, out: SelfChecks, withSubkeys: boolean, now: number, policy: Policy): void {
  const primary = cert.primary;
  // Policy and time rules need no cryptography: a candidate they reject is never verified.
  const acceptable = (sig: Signature, signerCreated = primary.created) => !selfSignatureRejection(sig, policy) && !timeConflict(sig, signerCreated, now, policy);
  for (const e of cert.directSigs) {
    if (!e.sig) continue;
    if (issuedBy(e.sig, primary)) out.always.push({ issuer: primary, sig: e.sig, target: { kind: 'key', primary } });
    else if (e.sig.type === SigType.KeyRevocation) {
      // Possibly from a designated revoker: verify against every candidate we hold.
      for (const c of keyring.issuerCandidates(e.sig.issuerFingerprints, e.sig.issuerKeyIds)) {
        out.always.push({ issuer: c.primary, sig: e.sig, target: { kind: 'key', primary } });
      }
    }
  }
  for (const u of cert.users) {
    const target: SigTarget = { kind: 'user', primary, user: u.packet };
    const bindings: SigCheck[] = [];
    for (const e of u.signatures) {
      const sig = e.sig;
      if (!sig || !issuedBy(sig, primary)) continue;
      if (sig.type === SigType.Attestation) out.always.push({ issuer: primary, sig, target });
      else if (bindsUserId(sig, primary) && acceptable(sig)) bindings.push({ issuer: primary, sig, target });
    }
    if (bindings.length > 0) out.newestFirst.push(newestFirst(bindings, (c) => c.sig));
  }
  if (!withSubkeys) return;
  for (const s of cert.subkeys) {
    const target: SigTarget = { kind: 'subkey', primary, subkey: s.key };
    const bindings: SigCheck[] = [];
    for (const e of s.signatures) {
      const sig = e.sig;
      if (!sig || !issuedBy(sig, primary)) continue;
      if (sig.type !== SigType.SubkeyBinding) out.always.push({ issuer: primary, sig, target });
      else if (bindsSubkey(sig, primary, now) && acceptable(sig)) bindings.push({ issuer: primary, sig, target });
    }
    if (bindings.length > 0) out.newestFirst.push(newestFirst(bindings, (c) => c.sig));
  }
}

/**
 * Verifies the `always` checks and, for each candidate list, candidates in order until
 * one verifies, in rounds so every round is one batch for the Verifier.
 */
async function verifyNewestFirst(verifier: SignatureVerifier, first: SigCheck[], lists: SigCheck[][], outcomes: Outcomes, issuerOf: Map<Signature, KeyPacket>): Promise<void> {
  const next = new Array<number>(lists.length).fill(0);
  let batch = first;
  for (;;) {
    lists.forEach((list, i) => {
      while (next[i] < list.length) {
        const c = list[next[i]];
        const ok = outcomes.get(c.sig, overOf(c.target));
        if (ok === undefined) {
          batch.push(c);
          return;
        }
        next[i] = ok ? list.length : next[i] + 1;
      }
    });
    if (batch.length === 0) return;
    await runChecks(verifier, batch, outcomes, issuerOf);
    batch = [];
  }
}

/** The back-signature checks of the chosen signing-capable subkey bindings (only the newest embedded one counts). */
function backsigChecks(cert: Cert, outcomes: Outcomes, now: number, policy: Policy): SigCheck[] {
  const out: SigCheck[] = [];
  for (const s of cert.subkeys) {
    const binding = subkeyBinding(cert, s, outcomes, now, policy);
    if (!binding || !((binding.keyFlags ?? 0) & KeyFlag.Sign)) continue;
    const back = newest(embeddedBacksigs(binding));
    if (back) out.push({ issuer: s.key, sig: back, target: { kind: 'subkey', primary: cert.primary, subkey: s.key } });
  }
  return out;
}

const embeddedCache = new WeakMap<Signature, Signature[]>();

/** The primary-key binding signatures (0x19) embedded in a subkey binding. */
function embeddedBacksigs(sig: Signature): Signature[] {
  let out = embeddedCache.get(sig);
  if (!out) {
    out = [];
    for (const body of sig.embedded) {
      try {
        const back = parseSignature({ tag: Tag.Signature, offset: sig.packet.offset, raw: body, body });
        if (back.type === SigType.PrimaryKeyBinding) out.push(back);
      } catch {
        // A malformed embedded signature is simply no back-signature.
      }
    }
    embeddedCache.set(sig, out);
  }
  return out;
}

interface ThirdParty {
  cert: Cert;
  user: UserComponent;
  entry: SigEntry;
  issuers: Cert[];
}

function collectThirdParty(cert: Cert, keyring: Keyring): ThirdParty[] {
  const out: ThirdParty[] = [];
  for (const user of cert.users) {
    for (const entry of user.signatures) {
      const sig = entry.sig;
      if (!sig || issuedBy(sig, cert.primary)) continue;
      if (!isCertificationType(sig.type) && sig.type !== SigType.CertRevocation) continue;
      out.push({ cert, user, entry, issuers: keyring.issuerCandidates(sig.issuerFingerprints, sig.issuerKeyIds) });
    }
  }
  return out;
}

async function runChecks(verifier: SignatureVerifier, checks: SigCheck[], outcomes: Outcomes, issuerOf?: Map<Signature, KeyPacket>): Promise<void> {
  if (checks.length === 0) return;
  const results = await verifier.verify(checks);
  checks.forEach((c, i) => {
    outcomes.set(c.sig, overOf(c.target), results[i]);
    if (results[i]) issuerOf?.set(c.sig, c.issuer);
  });
}

function good(outcomes: Outcomes, sig: Signature | undefined, over: object, now: number, policy: Policy, signerCreated: number): boolean {
  if (!sig || outcomes.get(sig, over) !== true) return false;
  if (selfSignatureRejection(sig, policy)) return false;
  return !timeConflict(sig, signerCreated, now, policy);
}

function revocationOf(sig: Signature, by: string): Revocation {
  return { time: sig.created, hard: isHardRevocation(sig), reason: sig.revocationReason, by };
}

function evaluateStructure(cert: Cert, outcomes: Outcomes, revokerOf: Map<Signature, KeyPacket>, now: number, policy: Policy, withSubkeys: boolean): EvaluatedCert {
  const primary = cert.primary;
  const isGood = (sig: Signature | undefined, over: object, signer = primary.created) => good(outcomes, sig, over, now, policy, signer);
  const notExpired = (sig: Signature) => signatureExpiry(sig) > now;

  // Pass 1: direct-key signatures, self revocations, designated revokers.
  let revocation: Revocation | undefined;
  const revokers: RevocationKey[] = [];
  const directSelf = cert.directSigs.map((e) => e.sig).filter((s): s is Signature => !!s && issuedBy(s, primary) && isGood(s, primary));
  for (const s of directSelf) {
    if (s.type === SigType.KeyRevocation && !revocation) revocation = revocationOf(s, primary.fpr);
    if (s.type === SigType.DirectKey) {
      for (const rk of s.revocationKeys) if (!revokers.some((r) => r.fingerprint === rk.fingerprint)) revokers.push(rk);
    }
  }
  const latestDirect = newest(directSelf.filter((s) => s.type === SigType.DirectKey && notExpired(s)));
  let valid = latestDirect !== undefined;
  let flags = latestDirect?.keyFlags ?? 0;
  let keyExpire = latestDirect?.keyExpiresAfter ? primary.created + latestDirect.keyExpiresAfter : 0;
  const keyExpireSeen = keyExpire !== 0;
  if (!revocation && revokers.length > 0) {
    for (const e of cert.directSigs) {
      const s = e.sig;
      if (!s || s.type !== SigType.KeyRevocation || issuedBy(s, primary)) continue;
      const by = revokerOf.get(s);
      if (by && revokers.some((r) => r.fingerprint === by.fpr) && isGood(s, primary, by.created)) {
        revocation = revocationOf(s, by.fpr);
        break;
      }
    }
  }

  // Pass 2: user IDs, each bound by its newest good self-signature or self-revocation.
  const userIds: UserIdState[] = [];
  let latestFlagsTime = -1;
  let latestExpireTime = -1;
  for (const user of cert.users) {
    const selfSigs = user.signatures
      .map((e) => e.sig)
      .filter((s): s is Signature => !!s && bindsUserId(s, primary) && isGood(s, user.packet));
    const chosen = newest(selfSigs);
    let status: Status = 'invalid';
    let uidRevocation: Revocation | undefined;
    let expires: number | undefined;
    if (chosen) {
      // Like gpg, only user IDs (not attributes) make a key valid.
      if (user.kind === 'userid') valid = true;
      expires = chosen.expiresAfter ? signatureExpiry(chosen) : undefined;
      if (chosen.type === SigType.CertRevocation) {
        status = 'revoked';
        uidRevocation = revocationOf(chosen, primary.fpr);
      } else if (!notExpired(chosen)) status = 'expired';
      else {
        status = 'valid';
        if (user.kind === 'userid') {
          if (chosen.keyFlags !== undefined && chosen.keyFlags !== 0 && chosen.created > latestFlagsTime) {
            latestFlagsTime = chosen.created;
            if (!latestDirect?.keyFlags) flags = chosen.keyFlags;
          }
          if (!keyExpireSeen && chosen.keyExpiresAfter && chosen.created > latestExpireTime) {
            latestExpireTime = chosen.created;
            keyExpire = primary.created + chosen.keyExpiresAfter;
          }
        }
      }
    }
    const attestation = newest(
      user.signatures.map((e) => e.sig).filter((s): s is Signature => !!s && s.type === SigType.Attestation && issuedBy(s, primary) && isGood(s, user.packet) && notExpired(s)),
    );
    userIds.push({
      component: user,
      text: user.text,
      status,
      selfSig: chosen,
      expires,
      revocation: uidRevocation,
      primary: false,
      certifications: [],
      attested: attestation ? attestation.attested.map((d) => d.toString('hex')) : [],
    });
  }
  markPrimaryUserId(userIds);

  const expired = keyExpire !== 0 && keyExpire < now;
  const problems: string[] = [];
  if (!valid) problems.push('no valid self-signature');
  const status: Status = !valid ? 'invalid' : revocation ? 'revoked' : expired ? 'expired' : 'valid';
  const primaryState: PrimaryState = {
    key: primary,
    status,
    expires: keyExpire || undefined,
    revocation,
    flags: flags | 0x01,
    revokers,
    problems,
  };

  const subkeys = (withSubkeys ? cert.subkeys : []).map((component): SubkeyState => {
    const sub = component.key;
    let subRevocation: Revocation | undefined;
    for (const e of component.signatures) {
      const s = e.sig;
      if (s?.type === SigType.SubkeyRevocation && issuedBy(s, primary) && isGood(s, sub)) {
        subRevocation = revocationOf(s, primary.fpr);
        break;
      }
    }
    const binding = subkeyBinding(cert, component, outcomes, now, policy);
    const subProblems: string[] = [];
    if (!binding) subProblems.push('no valid binding signature');
    const subFlags = binding?.keyFlags ?? 0;
    const subExpires = binding?.keyExpiresAfter ? sub.created + binding.keyExpiresAfter : undefined;
    let backsig: boolean | undefined;
    if (binding && subFlags & 0x02) {
      const back = newest(embeddedBacksigs(binding));
      backsig = back !== undefined && good(outcomes, back, sub, now, policy, sub.created);
      if (!backsig) subProblems.push('signing subkey without a valid back-signature');
    }
    let subStatus: Status = !binding ? 'invalid' : subRevocation ? 'revoked' : subExpires !== undefined && subExpires < now ? 'expired' : 'valid';
    // A subkey is never better than its primary key (gpg propagates invalid, revoked and expired).
    if (status !== 'valid' && subStatus === 'valid') subStatus = status;
    if (status === 'invalid') subStatus = 'invalid';
    return { component, key: sub, status: subStatus, binding, flags: subFlags, expires: subExpires, revocation: subRevocation ?? (status === 'revoked' ? revocation : undefined), problems: subProblems, backsig };
  });

  return { cert, fpr: primary.fpr, keyId: primary.keyId, now, primary: primaryState, userIds, subkeys };
}

/** gpg's choice: the newest self-signature with the primary-user-ID flag, else the newest one. */
function markPrimaryUserId(userIds: UserIdState[]): void {
  const candidates = userIds.filter((u) => u.component.kind === 'userid' && u.status === 'valid' && u.selfSig);
  const flagged = candidates.filter((u) => u.selfSig?.primaryUserId);
  const pool = flagged.length > 0 ? flagged : candidates;
  let best: UserIdState | undefined;
  for (const u of pool) if (!best || (u.selfSig?.created ?? 0) > (best.selfSig?.created ?? 0)) best = u;
  if (best) best.primary = true;
  else {
    const first = userIds.find((u) => u.component.kind === 'userid');
    if (first) first.primary = true;
  }
}

function certificationOf(tp: ThirdParty, outcomes: Outcomes, issuerOf: Map<Signature, KeyPacket>, now: number, policy: Policy, checked: boolean): Certification {
  const sig = tp.entry.sig!;
  const issuerKey = issuerOf.get(sig);
  const base: Certification = {
    sig,
    issuer: issuerKey?.fpr ?? (tp.issuers.length === 1 ? tp.issuers[0].primary.fpr : undefined),
    issuerKeyId: sig.issuerFingerprints.length > 0 ? keyIdOf(sig.issuerFingerprints[0]) : (sig.issuerKeyIds[0] ?? ''),
    type: sig.type,
    created: sig.created,
    expires: sig.expiresAfter ? signatureExpiry(sig) : undefined,
    trust: sig.trust,
    regexes: sig.regexes,
    exportable: sig.exportable,
    revocable: sig.revocable,
    hashAlgorithm: sig.hashAlgorithm,
    outcome: 'unchecked',
  };
  if (tp.issuers.length === 0) return { ...base, outcome: 'no-key' };
  if (!checked) return base;
  if (!outcomes.get(sig, tp.user.packet)) {
    const unsupported = tp.issuers.every((c) => c.primary.algorithm !== sig.pubAlgorithm) || !HASH_NAMES[sig.hashAlgorithm];
    return { ...base, outcome: unsupported ? 'unsupported' : 'bad', policyReason: unsupported ? 'unsupported algorithm' : 'bad signature' };
  }
  const rejection =
    certificationRejection(sig, policy) ??
    timeConflict(sig, issuerKey?.created ?? 0, now, policy) ??
    (tp.cert.primary.created > sig.created && !policy.ignoreTimeConflict ? 'certification older than the key it certifies' : undefined);
  return rejection ? { ...base, outcome: 'rejected', policyReason: rejection } : { ...base, outcome: 'good' };
}

/** Where an unchecked certification sits, and what is needed to check it later. */
interface Pending {
  tp: ThirdParty;
  ev: EvaluatedCert;
  state: UserIdState;
  index: number;
  policy: Policy;
}
const pendingCertifications = new WeakMap<Certification, Pending>();

/**
 * Evaluates certificates at `opts.now`. Issuers and designated revokers are looked up
 * in `keyring` (which should contain the certificates themselves). Each certificate is
 * evaluated in canonical form (`EvaluatedCert.cert` is that form): with a user ID or
 * subkey given twice, a revocation on one copy must not leave the other bound.
 */
export async function evaluateCerts(given: Cert[], keyring: Keyring, opts: EvaluateOptions): Promise<EvaluatedCert[]> {
  const certs = given.map(canonicalCert);
  const policy = opts.policy ?? DEFAULT_POLICY;
  const withSubkeys = opts.subkeys ?? true;
  const outcomes = new Outcomes();
  const issuerOf = new Map<Signature, KeyPacket>();
  const self: SelfChecks = { always: [], newestFirst: [] };
  for (const cert of certs) collectSelfChecks(cert, keyring, self, withSubkeys, opts.now, policy);
  const thirdParty = certs.map((c) => (opts.thirdParty === false ? [] : collectThirdParty(c, keyring)));
  const want = opts.certifications ?? true;
  const wanted = (issuer: Cert) => (typeof want === 'function' ? want(issuer.primary.fpr) : want);
  const tpChecks: SigCheck[] = [];
  for (const list of thirdParty) {
    for (const tp of list) {
      for (const issuer of tp.issuers) {
        if (wanted(issuer)) tpChecks.push({ issuer: issuer.primary, sig: tp.entry.sig!, target: { kind: 'user', primary: tp.cert.primary, user: tp.user.packet } });
      }
    }
  }
  await verifyNewestFirst(opts.verifier, [...self.always, ...tpChecks], self.newestFirst, outcomes, issuerOf);
  if (withSubkeys) await runChecks(opts.verifier, certs.flatMap((c) => backsigChecks(c, outcomes, opts.now, policy)), outcomes);
  return certs.map((cert, i) => {
    const ev = evaluateStructure(cert, outcomes, issuerOf, opts.now, policy, withSubkeys);
    for (const tp of thirdParty[i]) {
      const state = ev.userIds.find((u) => u.component === tp.user);
      if (!state) continue;
      const certification = certificationOf(tp, outcomes, issuerOf, opts.now, policy, tp.issuers.some(wanted));
      if (certification.outcome === 'unchecked') pendingCertifications.set(certification, { tp, ev, state, index: state.certifications.length, policy });
      state.certifications.push(certification);
    }
    return ev;
  });
}

/** Evaluates every certificate of the keyring; keyed by fingerprint. */
export async function evaluateKeyring(keyring: Keyring, opts: EvaluateOptions): Promise<Map<string, EvaluatedCert>> {
  const certs = [...keyring];
  const evaluated = await evaluateCerts(certs, keyring, opts);
  return new Map(evaluated.map((e) => [e.fpr, e]));
}

/**
 * Verifies the still `unchecked` certifications made by the given issuers and updates
 * them in place; lets a trust computation verify only what it reaches.
 */
export async function checkCertifications(evaluated: Iterable<EvaluatedCert>, issuers: (fpr: string) => boolean, verifier: SignatureVerifier): Promise<void> {
  const wanted: Certification[] = [];
  for (const ev of evaluated) {
    for (const u of ev.userIds) for (const c of u.certifications) if (c.outcome === 'unchecked' && pendingCertifications.get(c)?.tp.issuers.some((i) => issuers(i.primary.fpr))) wanted.push(c);
  }
  await checkCertificationsOf(wanted, verifier);
}

/**
 * Verifies these `unchecked` certifications (as evaluateCerts returned them), each
 * against the issuer it names (or every candidate, for a key ID several keys share).
 * Each is replaced in its user ID's list; returns the new ones in the same order
 * (a certification that was not pending comes back unchanged).
 */
export async function checkCertificationsOf(certifications: readonly Certification[], verifier: SignatureVerifier): Promise<Certification[]> {
  const outcomes = new Outcomes();
  const issuerOf = new Map<Signature, KeyPacket>();
  const checks: SigCheck[] = [];
  const work = certifications.map((c) => {
    const p = c.outcome === 'unchecked' ? pendingCertifications.get(c) : undefined;
    if (!p) return undefined;
    const target: SigTarget = { kind: 'user', primary: p.tp.cert.primary, user: p.tp.user.packet };
    for (const issuer of p.tp.issuers) if (c.issuer === undefined || issuer.primary.fpr === c.issuer) checks.push({ issuer: issuer.primary, sig: c.sig, target });
    return p;
  });
  await runChecks(verifier, checks, outcomes, issuerOf);
  return certifications.map((c, i) => {
    const p = work[i];
    if (!p) return c;
    pendingCertifications.delete(c);
    const checked = certificationOf(p.tp, outcomes, issuerOf, p.ev.now, p.policy, true);
    p.state.certifications[p.index] = checked;
    return checked;
  });
}
