/**
 * Wording for web-of-trust answers: explanations as text for people (paths drawn as
 * trees, one line per certification) and as JSON for programs (the data plus the
 * same sentences). Pure functions; printing is the CLI's job. In text, whatever a
 * certificate says (user IDs, revocation reasons, scopes) is escaped (src/util/printable.ts);
 * JSON carries it as it is.
 */
import type { CertificationReport, CertVerdict, Explanation, Path, PathNode, Reason } from './network.js';
import { printable, quoted } from '../util/printable.js';
import { scopeDomain } from './regex.js';
import type { ValidityLetter } from './types.js';

const VALIDITY_WORDS: Record<ValidityLetter, string> = {
  u: 'ultimately valid',
  f: 'fully valid',
  m: 'marginally valid',
  q: 'not valid (signed, but nothing counted)',
  n: 'never valid',
  '-': 'not valid',
  e: 'expired',
  r: 'revoked',
  i: 'invalid',
};

export function validityWord(letter: ValidityLetter): string {
  return VALIDITY_WORDS[letter];
}

const OWNERTRUST_WORDS: Record<number, string> = { 0: 'unknown', 1: 'expired', 2: 'undefined', 3: 'never', 4: 'marginal', 5: 'full', 6: 'ultimate' };

export function ownertrustWord(v: number | undefined): string {
  return OWNERTRUST_WORDS[(v ?? 0) & 15] ?? String(v);
}

export function formatDate(t: number | undefined): string {
  return t === undefined ? 'never' : new Date(t * 1000).toISOString().slice(0, 10);
}

function shortFpr(fpr: string | undefined): string {
  return fpr ?? '(unknown issuer)';
}

function scopeText(scope: string): string {
  const d = scopeDomain(scope);
  return d ? printable(d) : quoted(scope);
}

export function reasonText(r: Reason): string {
  switch (r.code) {
    case 'root':
      return 'the key is an ultimately trusted root';
    case 'key-not-found':
      return 'the key is not in the keyring';
    case 'userid-not-found':
      return 'the key has no such user ID';
    case 'key-revoked':
      return `the key is revoked${r.time !== undefined ? ` (since ${formatDate(r.time)})` : ''}${r.reason ? `: ${printable(r.reason)}` : ''}`;
    case 'key-expired':
      return `the key expired${r.time !== undefined ? ` on ${formatDate(r.time)}` : ''}`;
    case 'key-invalid':
      return 'the key has no valid self-signature';
    case 'userid-revoked':
      return `the user ID is revoked${r.time !== undefined ? ` (since ${formatDate(r.time)})` : ''}`;
    case 'userid-expired':
      return `the user ID expired${r.time !== undefined ? ` on ${formatDate(r.time)}` : ''}`;
    case 'userid-invalid':
      return 'the user ID has no valid self-signature';
    case 'no-certifications':
      return 'no path: the user ID carries no certifications';
    case 'no-introducer':
      return 'no path: no certification on it comes from an introducer';
    case 'no-ownertrust':
      return 'no path: it is certified only by introducers without ownertrust';
    case 'not-enough': {
      const parts: string[] = [];
      if (r.full > 0 || r.completesNeeded > 1) parts.push(`${r.full} of ${r.completesNeeded} fully trusted introducers`);
      parts.push(`only ${r.marginal} of ${r.marginalsNeeded} marginal introducers`);
      return parts.join('; ');
    }
    case 'stricter-than-gnupg':
      return `GnuPG 2.2 would rate it ${r.gnupgValidity} (${validityWord(r.gnupgValidity)}); refused because a trust signature's scope binds the whole delegation chain`;
  }
}

const WEIGHT_WORDS = { ultimate: 'an ultimately trusted root', full: 'a fully trusted introducer', marginal: 'a marginally trusted introducer' } as const;

export function verdictText(v: CertVerdict): string {
  switch (v.code) {
    case 'counted':
      return `counted: issued by ${WEIGHT_WORDS[v.weight]} (depth ${v.level})`;
    case 'counted-no-trust':
      return `counts for nothing: the issuer is a valid introducer but its ownertrust is ${ownertrustWord(v.ownertrust)}`;
    case 'issuer-unknown':
      return 'issuer is not in the keyring';
    case 'issuer-revoked':
      return 'issuer is revoked';
    case 'issuer-expired':
      return 'issuer is expired';
    case 'issuer-invalid':
      return 'issuer has no valid self-signature';
    case 'issuer-not-valid':
      return `issuer is not an introducer: its validity is ${v.issuerValidity} (${validityWord(v.issuerValidity)}); only fully valid keys introduce`;
    case 'issuer-too-deep':
      return `issuer is ${v.level} certifications away from a root, beyond max-cert-depth ${v.maxCertDepth}`;
    case 'not-examined':
      return 'not examined (the binding was settled before)';
    case 'superseded':
      return `superseded by the issuer's newer signature of ${formatDate(v.by)}`;
    case 'persona':
      return 'persona certification (0x11), ignored below min-cert-level 2';
    case 'not-verified':
      return v.outcome === 'rejected'
        ? `rejected: ${v.policyReason ?? 'policy'}`
        : v.outcome === 'bad'
          ? 'bad signature'
          : v.outcome === 'unsupported'
            ? `cannot be verified${v.policyReason ? `: ${v.policyReason}` : ''}`
            : v.outcome === 'no-key'
              ? 'issuer is not in the keyring'
              : 'not verified';
    case 'expired':
      return `certification expired on ${formatDate(v.expires)}`;
    case 'revoked':
      return `certification revoked by its issuer on ${formatDate(v.revokedAt)}`;
    case 'revocation':
      return 'certification revocation';
    case 'scope-mismatch':
      return v.inherited
        ? `scope ${scopeText(v.scope)} inherited down the delegation chain does not match (GnuPG forgets it; we do not)`
        : `scope ${scopeText(v.scope)} of the introducer does not match`;
  }
}

function nodeLine(n: PathNode): string {
  const uid = n.userId !== undefined ? ` ${quoted(n.userId)}` : '';
  if (n.role === 'root') return `${n.fingerprint}${uid} (ultimately trusted root)`;
  if (n.role === 'target') return `${n.fingerprint}${uid}`;
  const bits: string[] = [];
  if (n.trustAmount !== undefined) {
    bits.push(`${ownertrustWord(n.ownertrust)} introducer by trust signature (amount ${n.trustAmount}, may delegate ${n.trustDepth} more level${n.trustDepth === 1 ? '' : 's'})`);
  } else bits.push(`${ownertrustWord(n.ownertrust)} ownertrust`);
  if (n.scopes && n.scopes.length > 0) bits.push(`scope ${n.scopes.map(scopeText).join(' and ')}`);
  return `${n.fingerprint}${uid} (${bits.join('; ')})`;
}

function edgeLine(e: Path['edges'][number]): string {
  const what = e.trust && e.trust.level > 0 ? `trust-signed (depth ${e.trust.level}, amount ${e.trust.amount})` : 'certified';
  const local = e.exportable ? '' : ', local';
  const exp = e.expires !== undefined ? `, expires ${formatDate(e.expires)}` : '';
  return `${what} on ${formatDate(e.created)}${exp}${local}`;
}

/** A path drawn as a tree, sq-wot style. */
export function formatPath(p: Path, indent = ''): string[] {
  const lines: string[] = [];
  p.nodes.forEach((n, i) => {
    const mark = i === 0 ? '◯' : i === p.nodes.length - 1 ? '└' : '├';
    lines.push(`${indent}${mark} ${nodeLine(n)}`);
    if (i < p.edges.length) lines.push(`${indent}│   ${edgeLine(p.edges[i])}`);
  });
  return lines;
}

function certLine(c: CertificationReport): string {
  const ok = c.verdict.code === 'counted' ? '✓' : c.verdict.code === 'revocation' ? '·' : '✗';
  const uid = c.issuerUserId !== undefined ? ` ${quoted(c.issuerUserId)}` : '';
  const kind = c.trust && c.trust.level > 0 ? ` tsig ${c.trust.level}/${c.trust.amount}` : '';
  return `${ok} ${shortFpr(c.issuer ?? c.issuerKeyId)}${uid} ${formatDate(c.created)}${kind}: ${verdictText(c.verdict)}`;
}

/** The explanation as text: a verdict line, why, the paths, then every certification. */
export function formatExplanation(e: Explanation): string {
  const lines: string[] = [];
  const box = e.valid ? '[✓]' : '[ ]';
  lines.push(`${box} ${e.fingerprint} ${quoted(e.userId)}: ${validityWord(e.validity)} (${e.validity})`);
  for (const r of e.reasons) lines.push(`    ${reasonText(r)}`);
  if (e.counts && e.validity !== '-' && e.level !== undefined) {
    lines.push(
      `    counted up to depth ${e.level}: ${e.counts.full} full (${e.counts.completesNeeded} needed), ${e.counts.marginal} marginal (${e.counts.marginalsNeeded} needed)`,
    );
  }
  e.paths.forEach((p, i) => {
    lines.push(`    Path ${i + 1} of ${e.paths.length + e.morePaths}:`);
    lines.push(...formatPath(p, '      '));
  });
  if (e.morePaths > 0) lines.push(`    … and ${e.morePaths} more path${e.morePaths === 1 ? '' : 's'}`);
  if (e.certifications.length > 0) {
    lines.push('    Certifications:');
    for (const c of e.certifications) lines.push(`      ${certLine(c)}`);
  }
  return lines.join('\n');
}

/** The explanation as plain JSON data, with a `message` beside every coded reason and verdict. */
export function explanationJson(e: Explanation): Record<string, unknown> {
  return {
    fingerprint: e.fingerprint,
    userId: e.userId,
    validity: e.validity,
    keyValidity: e.keyValidity,
    gnupgValidity: e.gnupgValidity,
    valid: e.valid,
    model: e.model,
    referenceTime: new Date(e.referenceTime * 1000).toISOString(),
    level: e.level,
    counts: e.counts,
    reasons: e.reasons.map((r) => ({ ...r, message: reasonText(r) })),
    paths: e.paths.map((p) => ({
      nodes: p.nodes,
      edges: p.edges.map((x) => ({ ...x, created: new Date(x.created * 1000).toISOString(), expires: x.expires === undefined ? undefined : new Date(x.expires * 1000).toISOString() })),
    })),
    morePaths: e.morePaths,
    certifications: e.certifications.map((c) => ({
      ...c,
      created: new Date(c.created * 1000).toISOString(),
      expires: c.expires === undefined ? undefined : new Date(c.expires * 1000).toISOString(),
      verdict: { ...c.verdict, message: verdictText(c.verdict) },
    })),
  };
}
