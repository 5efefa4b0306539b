/**
 * Building verification work from a keyring: every third-party certification whose issuer is in
 * the ring, paired with each candidate issuer key. What the trust engine and the benchmarks verify.
 */
import type { UnixTime } from '../clock.js';
import { Keyring } from '../keyring/keyring.js';
import type { Cert } from '../openpgp/cert.js';
import { SigType } from '../openpgp/signature.js';
import type { SigCheck } from './verifier.js';

export interface CertificationCheck extends SigCheck {
  /** The certificate whose user ID (or attribute) is certified. */
  cert: Cert;
}

/**
 * The in-ring certifications of `ring`: signatures of type 0x10–0x13 on a user ID or user attribute,
 * not issued by the certificate's own primary key, whose issuer is a primary key in the ring (by issuer
 * fingerprint when the signature names one, else every primary with the issuer key ID). Signatures
 * created after `now` do not exist yet at that time and are left out. In ring order.
 */
export function certificationChecks(ring: Keyring | Iterable<Cert>, now: UnixTime): CertificationCheck[] {
  const keyring = ring instanceof Keyring ? ring : new Keyring(ring);
  const limit = now;
  const out: CertificationCheck[] = [];
  for (const cert of keyring) {
    const primary = cert.primary;
    for (const user of cert.users) {
      for (const entry of user.signatures) {
        const sig = entry.sig;
        if (!sig || sig.type < SigType.GenericCert || sig.type > SigType.PositiveCert || sig.created > limit) continue;
        if (sig.issuerFingerprints.includes(primary.fpr) || sig.issuerKeyIds.includes(primary.keyId)) continue;
        for (const issuer of keyring.issuerCandidates(sig.issuerFingerprints, sig.issuerKeyIds)) {
          out.push({ cert, issuer: issuer.primary, sig, target: { kind: 'user', primary, user: user.packet } });
        }
      }
    }
  }
  return out;
}
