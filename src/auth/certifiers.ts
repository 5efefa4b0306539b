/**
 * Identity certifiers: keys whose certifications of users count on this server because
 * the trust core made local trust signatures on their user IDs (add-id-certifier),
 * removed by local certification revocations (remove-id-certifier), and listed in the
 * original's format (list-id-certifiers).
 * Not here: fetching the certifier's key (the CLI does) or how trust flows (wot/).
 */
import { evaluateCerts } from '../cert/evaluate.js';
import type { Certification, EvaluatedCert } from '../cert/types.js';
import type { UnixTime } from '../clock.js';
import { InputError, NotFoundError, UsageError } from '../errors.js';
import { Keyring } from '../keyring/keyring.js';
import type { Cert } from '../openpgp/cert.js';
import { type KeySpec, parseKeySpec, specMatches } from '../openpgp/fingerprint.js';
import { colonEscape, quoted } from '../util/printable.js';
import type { VerificationCache } from '../verify/cache.js';
import { Verifier } from '../verify/verifier.js';
import { selectCertification } from '../wot/engine.js';
import type { WotCertification } from '../wot/types.js';
import { type CoreKey, domainOfRegex, domainRegex, revokeCertifications, TRUST_AMOUNT, trustSign } from './core.js';
import { ingestCerts } from './ingest.js';
import { type AuthStore, keyIdOf } from './store.js';

export { colonEscape };

export interface CertifierOptions {
  trust: 'marginal' | 'full';
  depth: number;
  domain?: string;
  /** Unix seconds. */
  now: number;
}

/** Checks `-t`, `-d` and `-n` as gpg's tsign prompts would. @throws UsageError (MS_AUTH_CERTIFIER_OPTION) */
export function parseCertifierOptions(raw: { trust?: string; depth?: string; domain?: string }, now: number): CertifierOptions {
  const trust = (raw.trust ?? 'full').toLowerCase();
  if (trust !== 'marginal' && trust !== 'full') {
    throw new UsageError('MS_AUTH_CERTIFIER_OPTION', `trust value requested (${JSON.stringify(raw.trust)}) was unclear`, { hints: ["only 'marginal' or 'full' are supported"] });
  }
  const depthText = raw.depth ?? '1';
  if (!/^\d+$/.test(depthText) || Number(depthText) < 1 || Number(depthText) > 255) {
    throw new UsageError('MS_AUTH_CERTIFIER_OPTION', `depth must be a whole number from 1 to 255, not ${JSON.stringify(depthText)}`);
  }
  const domain = raw.domain === '' ? undefined : raw.domain;
  if (domain !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(domain)) {
    throw new UsageError('MS_AUTH_CERTIFIER_OPTION', `not a domain: ${JSON.stringify(domain)}`, { hints: ['give a DNS domain such as example.org'] });
  }
  return { trust, depth: Number(depthText), domain, now };
}

/** `certs` evaluated with only `signer`'s certifications checked. */
async function evaluateWithSigner(cache: VerificationCache, signer: Cert, certs: Cert[], now: number): Promise<EvaluatedCert[]> {
  const keyring = new Keyring([signer, ...certs]);
  return evaluateCerts(certs, keyring, { now, verifier: new Verifier({ cache }), certifications: (issuer) => issuer === signer.primary.fpr });
}

function evaluateWithCore(store: AuthStore, core: CoreKey, certs: Cert[], now: number): Promise<EvaluatedCert[]> {
  return evaluateWithSigner(store.cache, core.cert, certs, now);
}

/** The core's effective signature on a user ID: the one GnuPG's selection keeps among the core's good signatures. */
function coreSignature(certs: Certification[], coreFpr: string, now: number): Certification | undefined {
  const mine = certs.filter((c) => c.issuer === coreFpr);
  const sel = selectCertification(mine as WotCertification[], { now, marginalsNeeded: 3, completesNeeded: 1, maxCertDepth: 5, minCertLevel: 2, trustSignatures: true, detail: 'explanations' });
  return sel.usable ? (sel.chosen as Certification | undefined) : undefined;
}

export interface AddedCertifier {
  fpr: string;
  userIds: string[];
}

/**
 * Makes `cert`'s key an identity certifier: stores it, then the core's local trust
 * signatures on each of its valid user IDs (replacing any earlier ones by being newer).
 * @throws InputError (MS_AUTH_CERTIFIER_UNUSABLE) when the key is not valid or has no valid user ID.
 */
export async function addCertifier(store: AuthStore, core: CoreKey, cert: Cert, opts: CertifierOptions): Promise<AddedCertifier> {
  if (cert.secret) throw new InputError('MS_AUTH_CERTIFIER_SECRET', 'refusing a secret key as a certifier', { hints: ['give the public key (gpg --export)'] });
  if (cert.primary.fpr === core.primary.fpr) throw new InputError('MS_AUTH_CERTIFIER_UNUSABLE', 'the trust core cannot certify itself');
  // The key comes from outside (a file, a keyserver): through the one ingest path (ingest.ts).
  const stored = (await ingestCerts(store, [cert], opts.now)).certs[0].cert;
  const [ev] = await evaluateWithCore(store, core, [stored], opts.now);
  if (ev.primary.status !== 'valid') {
    throw new InputError('MS_AUTH_CERTIFIER_UNUSABLE', `key ${ev.fpr} is ${ev.primary.status}; it cannot be made a certifier`);
  }
  const userIds = [...new Set(ev.userIds.filter((u) => u.component.kind === 'userid' && u.status === 'valid').map((u) => u.text))];
  if (userIds.length === 0) throw new InputError('MS_AUTH_CERTIFIER_UNUSABLE', `key ${ev.fpr} has no valid user ID to sign`);
  const fragment = trustSign(core, stored, userIds, {
    now: opts.now,
    depth: opts.depth,
    amount: TRUST_AMOUNT[opts.trust],
    regex: opts.domain === undefined ? undefined : domainRegex(opts.domain),
  });
  await store.putCerts([fragment], opts.now);
  return { fpr: ev.fpr, userIds };
}

/** Whether `id` (a key ID, short key ID or fingerprint, as parseKeySpec takes it) names `cert`'s primary key itself. */
export function namesPrimary(cert: Cert, id: string | KeySpec): boolean {
  return specMatches(typeof id === 'string' ? parseKeySpec(id) : id, cert.primary.fpr);
}

/** Whether `spec` names `cert`'s primary key or one of its subkeys. */
export function holdsKey(cert: Cert, spec: KeySpec): boolean {
  return namesPrimary(cert, spec) || cert.subkeys.some((s) => specMatches(spec, s.key.fpr));
}

/** One line per candidate for an error's hints: fingerprint, first user ID (escaped), and which of its keys matched. */
function candidates(found: Cert[], spec: KeySpec): string[] {
  return found.map((c) => {
    const uid = c.users.find((u) => u.kind === 'userid');
    const sub = c.subkeys.find((s) => specMatches(spec, s.key.fpr));
    const how = namesPrimary(c, spec) ? 'its primary key' : `its subkey ${sub?.key.fpr ?? '?'}`;
    return `${c.primary.fpr}${uid ? ` ${quoted(uid.text)}` : ''}: ${how} matches`;
  });
}

/**
 * The one stored certificate a key ID, fingerprint or fingerprint suffix names (a leading
 * `0x`, a trailing `!` and spaces ignored). A full fingerprint (40 hex digits for v4, 64
 * for v6) names a primary key exactly: no subkey of any other certificate can shadow it.
 * A key ID (16 digits, per key version) or short key ID (8) names the one certificate
 * holding a key that matches; when several do, the one whose primary key matches, if
 * only one does; otherwise it is ambiguous.
 * @throws NotFoundError (MS_AUTH_NO_KEY), InputError (MS_AUTH_AMBIGUOUS_KEY, MS_PGP_KEYID)
 */
export async function findOne(store: AuthStore, id: string): Promise<Cert> {
  const spec = parseKeySpec(id);
  if (spec.kind === 'fingerprint') {
    const exact = await store.certs.get(spec.fpr);
    if (exact) return exact.cert;
    const holders = (await store.certs.byKeyId(spec.fpr)).map((s) => s.cert).filter((c) => holdsKey(c, spec));
    throw new NotFoundError('MS_AUTH_NO_KEY', `no key with the fingerprint ${spec.fpr} in the store`, {
      hints: holders.length > 0 ? [...candidates(holders, spec), 'a fingerprint names a primary key; give the primary key\'s fingerprint'] : [],
    });
  }
  const found = (await store.certs.byKeyId(spec.kind === 'keyid' ? spec.keyId : spec.hex)).map((s) => s.cert).filter((c) => holdsKey(c, spec));
  if (found.length === 0) throw new NotFoundError('MS_AUTH_NO_KEY', `no key ${JSON.stringify(id)} in the store`);
  if (found.length === 1) return found[0];
  const primaries = found.filter((c) => namesPrimary(c, spec));
  if (primaries.length === 1) return primaries[0];
  throw new InputError('MS_AUTH_AMBIGUOUS_KEY', `${JSON.stringify(id)} matches ${found.length} keys`, {
    hints: [...candidates(found, spec), 'give the full fingerprint'],
    data: { matches: found.map((c) => c.primary.fpr) },
  });
}

export interface CertifierEntry {
  fpr: string;
  userId: string;
  depth: number;
  amount: number;
  regex: string;
}

/**
 * The user IDs of `certs` that `signer` trust-signs now (its effective signature on the user
 * ID, as GnuPG selects it, has a trust level > 0), with the depth, amount and regex, in the
 * order given. The trust core's certifiers, or the 0.43 core's when migrating.
 */
export async function trustSignedBy(cache: VerificationCache, signer: Cert, certs: Cert[], now: UnixTime): Promise<CertifierEntry[]> {
  const out: CertifierEntry[] = [];
  const others = certs.filter((c) => c.primary.fpr !== signer.primary.fpr);
  for (const ev of await evaluateWithSigner(cache, signer, others, now)) {
    for (const u of ev.userIds) {
      if (u.component.kind !== 'userid') continue;
      const sig = coreSignature(u.certifications, signer.primary.fpr, now);
      if (!sig?.trust || sig.trust.level === 0) continue;
      out.push({ fpr: ev.fpr, userId: u.text, depth: sig.trust.level, amount: sig.trust.amount, regex: sig.regexes[0] ?? '' });
    }
  }
  return out;
}

/** Every user ID the core currently trust-signs and that is valid, with the signature's depth, amount and regex, by certificate in store order. */
export async function listCertifiers(store: AuthStore, core: CoreKey, now: UnixTime, validity: (fpr: string, uid: string) => Promise<string>): Promise<CertifierEntry[]> {
  const rows = await store.certifiedBy([keyIdOf(core.primary.fpr)]);
  const certs: Cert[] = [];
  for (const r of rows) {
    const s = await store.certs.get(r.fpr);
    if (s) certs.push(s.cert);
  }
  const out: CertifierEntry[] = [];
  for (const e of await trustSignedBy(store.cache, core.cert, certs, now)) {
    const v = await validity(e.fpr, e.userId);
    if (v === 'f' || v === 'u') out.push(e);
  }
  return out;
}

/** A certifier's user ID and its trust in words: `FPR "uid": full, depth 1, domain example.org`. */
export function describeCertifier(e: CertifierEntry): string {
  const trust = e.amount >= TRUST_AMOUNT.full ? 'full' : e.amount >= TRUST_AMOUNT.marginal ? 'marginal' : `trust amount ${e.amount}`;
  const domain = e.regex === '' ? undefined : domainOfRegex(e.regex);
  const scope = e.regex === '' ? '' : domain !== undefined ? `, domain ${domain}` : `, user IDs matching ${JSON.stringify(e.regex)}`;
  return `${e.fpr} ${quoted(e.userId)}: ${trust}, depth ${e.depth}${scope}`;
}

/** The original's list-id-certifiers output: `FPR:` then ` :<uid>:<depth>:<amount>:<regex>` per signed user ID. */
export function formatCertifiers(entries: CertifierEntry[]): string {
  let out = '';
  let last: string | undefined;
  for (const e of entries) {
    if (e.fpr !== last) out += `${e.fpr}:\n`;
    last = e.fpr;
    out += ` :${colonEscape(e.userId)}:${e.depth}:${e.amount}:${colonEscape(e.regex)}\n`;
  }
  return out;
}

/**
 * Removes a certifier: the core revokes each of its current trust signatures.
 * @throws NotFoundError (MS_AUTH_NOT_CERTIFIER) when the key is not a certifier.
 */
export async function removeCertifier(store: AuthStore, core: CoreKey, cert: Cert, now: number): Promise<string[]> {
  const [ev] = await evaluateWithCore(store, core, [cert], now);
  const signed = ev.userIds.filter((u) => u.component.kind === 'userid' && coreSignature(u.certifications, core.primary.fpr, now) !== undefined).map((u) => u.text);
  const unique = [...new Set(signed)];
  if (unique.length === 0) throw new NotFoundError('MS_AUTH_NOT_CERTIFIER', `key ${cert.primary.fpr} is not an identity certifier`);
  await store.putCerts([revokeCertifications(core, cert, unique, now)], now);
  return unique;
}
