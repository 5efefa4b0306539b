/**
 * The web of trust of a GnuPG home, as gpg would compute it from the same home (stricter
 * where gpg is unsafe): the API the user tool and the validation agent call.
 */
import type { UnixTime } from '../clock.js';
import type { TrustOptions } from '../wot/types.js';
import { type GnupgTrustInputs, type ReadHomeOptions, readGnupgHome } from './home.js';
import { type ComputedWeb, type ComputeOptions, computeWeb } from './web.js';

/** The trust options a GnuPG home sets, at reference time `now`. */
export function gnupgTrustOptions(inputs: GnupgTrustInputs, now: UnixTime): TrustOptions {
  return { roots: inputs.roots, ownertrust: inputs.ownertrust, now, ...inputs.settings };
}

export interface GnupgWebOptions extends ComputeOptions, ReadHomeOptions {
  /** `validity` verifies only what decides the letters; `explanations` (default) everything an explanation shows. */
  detail?: TrustOptions['detail'];
}

/**
 * Computes the web of trust of the GnuPG home `home` at `now`, or reuses a stored snapshot
 * of it (opts.snapshots) while the home is unchanged.
 */
export async function computeGnupgWeb(home: string, now: UnixTime, opts: GnupgWebOptions): Promise<ComputedWeb & { inputs: GnupgTrustInputs }> {
  const inputs = readGnupgHome(home, opts);
  const computed = await computeWeb([inputs.source], { ...gnupgTrustOptions(inputs, now), detail: opts.detail }, opts);
  return { ...computed, inputs };
}
