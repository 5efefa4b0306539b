/**
 * The web-of-trust engine: GnuPG's classic "pgp" model on summaries, stricter where
 * GnuPG is unsafe, with explanations. See docs/design/wot.md. Re-exports only.
 */
export { type BuildTrustOptions, type BuiltNetwork, buildTrustNetwork, computeKeyringTrust, resolveRoots, type TrustInput } from './build.js';
export { type BuildOptions, EvaluatedWeb, evaluateWeb } from './from-cert.js';
export { explanationJson, formatDate, formatExplanation, formatPath, ownertrustWord, reasonText, validityWord, verdictText } from './format.js';
export {
  type Binding,
  type CertificationReport,
  type CertVerdict,
  type Explanation,
  isFullyValid,
  type Path,
  type PathEdge,
  type PathNode,
  type Reason,
  TrustNetwork,
} from './network.js';
export { compileRegex, regexMatches, sanitizeRegex, scopeDomain } from './regex.js';
export * from './types.js';
