/**
 * The bridge from evaluated certificates (src/cert/) to the engine's summaries, with
 * lazy verification: third-party certifications are evaluated `unchecked` and only
 * those issued by each level's introducers are verified, through the Verifier (and
 * its cache). This module reads the cert model; the engine never does.
 */
import { checkCertifications, evaluateKeyring } from '../cert/evaluate.js';
import type { Policy } from '../cert/policy.js';
import type { Certification, EvaluatedCert, UserIdState } from '../cert/types.js';
import type { Keyring } from '../keyring/keyring.js';
import type { Verifier } from '../verify/verifier.js';
import { TrustNetwork } from './network.js';
import type { TrustOptions, VerifyIssuers, WotCertification, WotKey, WotUserId } from './types.js';

function certSummary(c: Certification): WotCertification {
  return {
    issuer: c.issuer,
    issuerKeyId: c.issuerKeyId,
    type: c.type,
    created: c.created,
    expires: c.expires,
    trust: c.trust,
    regexes: c.regexes,
    exportable: c.exportable,
    revocable: c.revocable,
    hashAlgorithm: c.hashAlgorithm,
    outcome: c.outcome,
    policyReason: c.policyReason,
  };
}

interface Pending {
  summary: WotCertification;
  state: UserIdState;
  index: number;
}

/** Summaries of evaluated certificates, kept in step with later verification. */
export class EvaluatedWeb {
  readonly keys: WotKey[] = [];
  private pending: Pending[] = [];

  constructor(readonly evaluated: Map<string, EvaluatedCert>) {
    for (const ev of evaluated.values()) {
      const userIds: WotUserId[] = ev.userIds.map((u) => {
        const certifications = u.certifications.map((c, index) => {
          const summary = certSummary(c);
          if (c.outcome === 'unchecked') this.pending.push({ summary, state: u, index });
          return summary;
        });
        return {
          text: u.component.kind === 'attribute' ? '' : u.text,
          attribute: u.component.kind === 'attribute',
          status: u.status,
          expires: u.expires,
          revokedAt: u.revocation?.time,
          certifications,
        };
      });
      this.keys.push({
        fpr: ev.fpr,
        keyId: ev.keyId,
        created: ev.primary.key.created,
        status: ev.primary.status,
        expires: ev.primary.expires,
        revocation: ev.primary.revocation ? { time: ev.primary.revocation.time, reason: ev.primary.revocation.reason?.text || undefined } : undefined,
        userIds,
      });
    }
  }

  /** Certifications still unchecked. */
  get unchecked(): number {
    return this.pending.length;
  }

  /** The hook the engine calls per level: verifies these issuers' certifications. */
  verifyHook(verifier: Verifier): VerifyIssuers {
    return async (issuers) => {
      const wanted = new Set(issuers);
      if (!this.pending.some((p) => p.summary.issuer !== undefined && wanted.has(p.summary.issuer))) return;
      await checkCertifications(this.evaluated.values(), (fpr) => wanted.has(fpr), verifier);
      const still: Pending[] = [];
      for (const p of this.pending) {
        const now = p.state.certifications[p.index];
        if (now.outcome === 'unchecked') {
          still.push(p);
          continue;
        }
        Object.assign(p.summary, certSummary(now));
      }
      this.pending = still;
    };
  }
}

export interface BuildOptions {
  verifier: Verifier;
  policy?: Policy;
  /** Verify every certification up front instead of level by level (default false). */
  eager?: boolean;
}

/**
 * Evaluates a keyring at `trust.now` and computes its web of trust, verifying only the
 * certifications made by introducers.
 */
export async function computeKeyringTrust(keyring: Keyring, trust: TrustOptions, opts: BuildOptions): Promise<{ network: TrustNetwork; web: EvaluatedWeb }> {
  const evaluated = await evaluateKeyring(keyring, { now: trust.now, verifier: opts.verifier, policy: opts.policy, certifications: opts.eager ?? false, subkeys: false });
  const web = new EvaluatedWeb(evaluated);
  const network = await TrustNetwork.compute(web.keys, trust, web.verifyHook(opts.verifier));
  return { network, web };
}
