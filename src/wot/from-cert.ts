/**
 * The bridge from evaluated certificates (src/cert/) to the engine's summaries, with
 * lazy verification: third-party certifications are evaluated `unchecked` and only
 * those issued by each level's introducers are verified, through the Verifier (and
 * its cache). This module reads the cert model; the engine never does.
 */
import { checkCertificationsOf, evaluateKeyring } from '../cert/evaluate.js';
import type { Policy } from '../cert/policy.js';
import type { Certification, EvaluatedCert, UserIdState } from '../cert/types.js';
import type { Keyring } from '../keyring/keyring.js';
import type { Verifier } from '../verify/verifier.js';
import type { VerifyCertifications, WotCertification, WotKey, WotUserId } from './types.js';

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
  state: UserIdState;
  index: number;
}

/** Summaries of evaluated certificates, kept in step with later verification. */
export class EvaluatedWeb {
  readonly keys: WotKey[] = [];
  private readonly pending = new Map<WotCertification, Pending>();

  constructor(evaluated: Map<string, EvaluatedCert>) {
    for (const ev of evaluated.values()) {
      const userIds: WotUserId[] = ev.userIds.map((u) => {
        const certifications = u.certifications.map((c, index) => {
          const summary = certSummary(c);
          if (c.outcome === 'unchecked') this.pending.set(summary, { state: u, index });
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
    return this.pending.size;
  }

  /** The hook the engine calls before each level: verifies these certifications. */
  verifyHook(verifier: Verifier): VerifyCertifications {
    return async (summaries) => {
      const asked: Array<[WotCertification, Pending]> = [];
      for (const summary of summaries) {
        const p = this.pending.get(summary);
        if (p) asked.push([summary, p]);
      }
      if (asked.length === 0) return;
      const checked = await checkCertificationsOf(
        asked.map(([, p]) => p.state.certifications[p.index]),
        verifier,
      );
      asked.forEach(([summary], i) => {
        if (checked[i].outcome === 'unchecked') return;
        Object.assign(summary, certSummary(checked[i]));
        this.pending.delete(summary);
      });
    };
  }
}

export interface BuildOptions {
  verifier: Verifier;
  policy?: Policy;
  /** Verify every certification up front instead of level by level (default false). */
  eager?: boolean;
}

/** Evaluates a keyring at `now` for the web of trust: user IDs and certifications, no subkeys. */
export async function evaluateWeb(keyring: Keyring, now: number, opts: BuildOptions): Promise<EvaluatedWeb> {
  const evaluated = await evaluateKeyring(keyring, { now, verifier: opts.verifier, policy: opts.policy, certifications: opts.eager ?? false, subkeys: false });
  return new EvaluatedWeb(evaluated);
}
