/**
 * Reading a GnuPG home and computing its web of trust, with snapshot reuse: the I/O
 * around the pure engine in src/wot/. Re-exports only.
 */
export { normalizeKeyHandle, parseGpgConf, parseOwnertrust, parseRootHandle, type GpgTrustConfig } from './config.js';
export { type Env, runGpg } from './gpg.js';
export { defaultGnupgHome, type GnupgTrustInputs, type GnupgTrustSettings, gnupgSource, type ReadHomeOptions, readGnupgHome } from './home.js';
export { type CertSource, keyringSource, readInput, sourceOf } from './source.js';
export { computeGnupgWeb, type GnupgWebOptions, gnupgTrustOptions } from './trust.js';
export { defaultWebCachePath, openWebCache, type WebCache } from './cache.js';
export { cachedComputeOptions, type ComputedWeb, type ComputeOptions, computeWeb, type ListedBindings, listBindings, snapshotKey } from './web.js';
