/**
 * The validation agent's answer to `/reviewcert`: whether the key a carrier holds may be
 * used by the peer's OpenPGP user ID in the request's context, from the user's web of
 * trust (behaviour inventory §6). As msva-perl: the certificates carrying the user ID are
 * searched for a key equal to the carrier's (or, when the carrier names an OpenPGP
 * fingerprint, the key with that fingerprint); the key must be authentication-capable
 * (signing-capable for `e-mail`) and the user ID fully valid (gpg's `f` or `u`). Unlike
 * msva-perl: any RSA, Ed25519 or NIST ECDSA key; the key's own validity counts (a revoked
 * or expired subkey, a revoked or expired primary, a key gpg marks disabled are refused);
 * and a refusal says why in words. Keyserver policy: `unlessvalid` asks the keyserver only
 * when nothing local is valid, `always` first, `never` not at all.
 */
import type { UnixTime } from '../clock.js';
import { KeyFlag } from '../openpgp/signature.js';
import type { UidCert, UidKey } from '../user/home-keys.js';
import { isFullyValid } from '../wot/network.js';
import { type ExtractedKey, extractKey } from './pkc.js';
import type { KeyserverPolicy, ReviewRequest } from './request.js';

/** What the agent replies (besides `server`). */
export interface ReviewAnswer {
  valid: boolean;
  message: string;
  /** When not valid: how many certificates carry the user ID (after any keyserver lookup). */
  certificates?: number;
  /**
   * When not valid: the certificates (fingerprints) on which the user ID is fully valid and
   * that hold a usable key for the context; non-empty means the web of trust vouches for
   * other keys under this user ID (what a browser blocks on).
   */
  validCertificates?: string[];
}

/** Where trust comes from: the user's GnuPG home (trust.ts), or a test's stand-in. */
export interface TrustSource {
  certsFor(userId: string, now: UnixTime): Promise<UidCert[]>;
  fetchUserId(userId: string): Promise<void>;
  fetchFingerprint(fpr: string): Promise<void>;
  whyNotValid(fpr: string, userId: string, now: UnixTime): Promise<string[]>;
}

/** The outcome of looking at the certificates once. */
export type Lookup =
  | { kind: 'valid'; cert: UidCert; key: UidKey }
  /** The closest miss, for the words of the refusal. */
  | { kind: 'binding'; cert: UidCert; key: UidKey }
  | { kind: 'key'; cert: UidCert; key: UidKey; why: string }
  | { kind: 'capability'; cert: UidCert; key: UidKey; needed: string }
  | { kind: 'no-key'; certificates: number }
  | { kind: 'no-cert' };

const RANK: Record<Lookup['kind'], number> = { valid: 5, binding: 4, key: 3, capability: 2, 'no-key': 1, 'no-cert': 0 };

function keyBase64(k: UidKey): string {
  return k.ssh.split(' ')[1] ?? '';
}

function keyProblem(cert: UidCert, key: UidKey): string | undefined {
  const what = key.primary ? 'key' : 'subkey';
  if (key.status === 'revoked' || (key.primary && cert.keyValidity === 'r')) return `the matching ${what} 0x${key.fpr} is revoked`;
  if (key.status === 'expired' || (key.primary && cert.keyValidity === 'e')) return `the matching ${what} 0x${key.fpr} has expired`;
  if (key.status === 'invalid') return `the matching ${what} 0x${key.fpr} is not validly bound to its certificate`;
  if (cert.keyValidity === 'r') return `the certificate 0x${cert.fpr} is revoked`;
  if (cert.keyValidity === 'e') return `the certificate 0x${cert.fpr} has expired`;
  if (cert.keyValidity === 'i') return `the certificate 0x${cert.fpr} has no valid self-signature`;
  if (cert.disabled) return `the certificate 0x${cert.fpr} is disabled in your keyring`;
  return undefined;
}

/**
 * Looks through the certificates carrying the user ID for the carrier's key, as msva-perl's
 * `_tryquery` does, and says how close the best candidate came.
 */
export function lookupKey(certs: readonly UidCert[], key: { blob?: Buffer; fpr?: string }, context: string): Lookup {
  const b64 = key.blob?.toString('base64');
  const [flag, needed] = context === 'e-mail' ? [KeyFlag.Sign, 'signing-capable'] : [KeyFlag.Authenticate, 'authentication-capable'];
  let best: Lookup = certs.length > 0 ? { kind: 'no-key', certificates: certs.length } : { kind: 'no-cert' };
  const consider = (l: Lookup) => {
    if (RANK[l.kind] > RANK[best.kind]) best = l;
  };
  for (const cert of certs) {
    for (const k of cert.keys) {
      // A fingerprint (openpgp4fpr, or the X.509 PGP extension) names one key; else the key material decides.
      if (key.fpr !== undefined && k.fpr !== key.fpr) continue;
      if (b64 !== undefined && keyBase64(k) !== b64) continue;
      if ((k.flags & flag) === 0) {
        consider({ kind: 'capability', cert, key: k, needed });
        continue;
      }
      const problem = keyProblem(cert, k);
      if (problem) consider({ kind: 'key', cert, key: k, why: problem });
      else if (isFullyValid(cert.validity)) return { kind: 'valid', cert, key: k };
      else consider({ kind: 'binding', cert, key: k });
    }
  }
  return best;
}

/** The certificates on which the user ID is fully valid and that hold an unrevoked, unexpired key capable for the context. */
export function vouchedCertificates(certs: readonly UidCert[], context: string): string[] {
  const flag = context === 'e-mail' ? KeyFlag.Sign : KeyFlag.Authenticate;
  return certs
    .filter((c) => isFullyValid(c.validity) && !['r', 'e', 'i'].includes(c.keyValidity) && !c.disabled)
    .filter((c) => c.keys.some((k) => (k.flags & flag) !== 0 && k.status === 'valid'))
    .map((c) => c.fpr);
}

export interface ReviewOptions {
  now: UnixTime;
  /** The agent's policy (MSVA_KEYSERVER_POLICY); the request's own wins. */
  keyserverPolicy: KeyserverPolicy;
  log?: { verbose(message: string): void; debug(message: string): void };
}

function sentence(text: string): string {
  const t = text.trim();
  return `${t.charAt(0).toUpperCase()}${t.slice(1)}${/[.!?]$/.test(t) ? '' : '.'}`;
}

/**
 * Answers a parsed request.
 * @throws RequestError (MS_MSVA_PKC) when the carrier does not parse.
 */
export async function review(req: ReviewRequest, trust: TrustSource, opts: ReviewOptions): Promise<ReviewAnswer> {
  const uid = req.userId;
  const extracted: ExtractedKey = extractKey(req.pkc);
  if ('refused' in extracted) return { valid: false, message: extracted.refused };
  opts.log?.verbose(`user ID: ${uid}; key: ${extracted.description}${extracted.fpr ? ` (OpenPGP fingerprint ${extracted.fpr})` : ''}`);

  const policy = req.keyserverPolicy ?? opts.keyserverPolicy;
  const fetch = () => (extracted.fpr !== undefined ? trust.fetchFingerprint(extracted.fpr) : trust.fetchUserId(uid));
  let certs: UidCert[] = [];
  const look = async () => {
    certs = await trust.certsFor(uid, opts.now);
    return lookupKey(certs, extracted, req.context);
  };

  let found: Lookup | undefined;
  if (policy === 'unlessvalid') found = await look();
  if (policy !== 'never' && found?.kind !== 'valid') {
    opts.log?.debug(`keyserver policy ${policy}: asking the keyserver`);
    await fetch();
    found = undefined;
  }
  found ??= await look();

  if (found.kind === 'valid') return { valid: true, message: `Successfully validated "${uid}" through the OpenPGP Web of Trust.` };
  const failed = `Failed to validate "${uid}" through the OpenPGP Web of Trust.`;
  let why: string[];
  switch (found.kind) {
    case 'no-cert':
      why = [`no OpenPGP certificate in your keyring carries the user ID "${uid}"`];
      break;
    case 'no-key':
      why = [
        found.certificates === 1
          ? `the certificate with the user ID "${uid}" does not hold this key${extracted.fpr ? ` (OpenPGP fingerprint ${extracted.fpr})` : ''}`
          : `none of the ${found.certificates} certificates with the user ID "${uid}" holds this key${extracted.fpr ? ` (OpenPGP fingerprint ${extracted.fpr})` : ''}`,
      ];
      break;
    case 'capability':
      why = [`the matching ${found.key.primary ? 'key' : 'subkey'} 0x${found.key.fpr} is not ${found.needed}`];
      break;
    case 'key':
      why = [found.why];
      break;
    case 'binding': {
      const reasons = await trust.whyNotValid(found.cert.fpr, uid, opts.now);
      why = [`the user ID is not fully valid on 0x${found.cert.fpr}${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''}`];
      break;
    }
  }
  const vouched = vouchedCertificates(certs, req.context);
  return { valid: false, message: `${failed} ${why.map(sentence).join(' ')}`, certificates: certs.length, validCertificates: vouched };
}
