/**
 * The warning ssh-proxycommand prints when a host has OpenPGP certificates but none is
 * fully valid (the original's "marginal UI", behaviour inventory §4): the same header and
 * footer lines, then, instead of gpg's signature listing, why each certificate falls short
 * in words (no certification path, only marginal introducers, a certification expired or
 * revoked, out of a certifier's domain), from the engine's explanations, and the SSH
 * fingerprint of each key so it can be compared with what ssh shows. The original also ran
 * `ssh-keyscan -t rsa` to point at the offered key; that is a second connection and RSA
 * only, so it is not done.
 */
import type { UnixTime } from '../clock.js';
import { computeGnupgWeb } from '../gnupg/trust.js';
import type { Env } from '../gnupg/gpg.js';
import { sshFingerprint } from '../ssh/public-key.js';
import type { Store } from '../store/types.js';
import { Verifier } from '../verify/verifier.js';
import { formatExplanation } from '../wot/format.js';
import type { UidCert } from './home-keys.js';

export const WARNING_HEADER = '-------------------- Monkeysphere warning -------------------';
export const WARNING_FOOTER = '-------------------- ssh continues below --------------------';

export interface WarningOptions {
  env: Env;
  gnupgHome: string;
  now: UnixTime;
  store?: Store;
}

/** The warning's lines for the certificates `certs` found for `userId`. */
export async function noValidKeyWarning(userId: string, certs: readonly UidCert[], opts: WarningOptions): Promise<string[]> {
  const lines = [WARNING_HEADER, 'Monkeysphere found OpenPGP keys for this hostname, but none had full validity.'];
  try {
    const { network } = await computeGnupgWeb(opts.gnupgHome, opts.now, {
      env: opts.env,
      snapshots: opts.store?.snapshots,
      verifier: () => new Verifier({ cache: opts.store?.verifications }),
      detail: 'explanations',
    });
    for (const c of certs) {
      lines.push('', ...formatExplanation(network.explain(c.fpr, userId)).split('\n'));
      if (c.disabled) lines.push('    the key is disabled in your keyring');
      for (const k of c.keys) {
        const blob = Buffer.from(k.ssh.split(' ')[1], 'base64');
        lines.push(`    ${k.primary ? 'primary' : 'subkey'} ssh key ${sshFingerprint(blob)} (${k.ssh.split(' ')[0]})${k.ok ? '' : ': not acceptable'}`);
      }
    }
  } catch (err) {
    lines.push(`(the reasons could not be computed: ${(err as Error).message})`);
  }
  lines.push('', 'Run the following command for more info about the found keys:', `gpg --check-sigs --list-options show-uid-validity =${userId}`, WARNING_FOOTER);
  return lines;
}
