/**
 * The show-keys listing of a host key: what `gpg --list-keys` shows for it (algorithm,
 * creation, usage, expiry, fingerprint, service names and gpg's validity, usable subkeys), its designated
 * revokers, and the OpenPGP and SSH fingerprints, as the original printed them.
 * User IDs are escaped (src/util/printable.ts): an imported key's may hold anything.
 */
import type { EvaluatedCert, Status } from '../cert/types.js';
import { PubKeyAlg } from '../openpgp/algorithms.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { KeyFlag } from '../openpgp/signature.js';
import { sshBlobFromKeyPacket, sshKeyDescription, sshFingerprint } from '../ssh/index.js';
import { printable } from '../util/printable.js';

const day = (t: number) => new Date(t * 1000).toISOString().slice(0, 10);

/** gpg's algorithm label: rsa3072, ed25519, nistp256, dsa2048… */
export function algorithmLabel(key: KeyPacket): string {
  const m = key.material;
  switch (key.algorithm) {
    case PubKeyAlg.RSA:
    case PubKeyAlg.RSASign:
    case PubKeyAlg.RSAEncrypt:
      return `rsa${key.bits}`;
    case PubKeyAlg.DSA:
      return `dsa${key.bits}`;
    case PubKeyAlg.ElGamal:
      return `elg${key.bits}`;
    case PubKeyAlg.Ed25519:
      return 'ed25519';
    case PubKeyAlg.Ed448:
      return 'ed448';
    default:
      return m.kind === 'ecc' && m.curve ? m.curve.name : `algo${key.algorithm}`;
  }
}

/** gpg's usage letters in its order: S C E A. */
export function usageLetters(flags: number): string {
  let s = '';
  if (flags & KeyFlag.Sign) s += 'S';
  if (flags & KeyFlag.Certify) s += 'C';
  if (flags & (KeyFlag.EncryptCommunications | KeyFlag.EncryptStorage)) s += 'E';
  if (flags & KeyFlag.Authenticate) s += 'A';
  return s;
}

/** `BITS SHA256:… (LABEL)`, the original's "ssh fingerprint" (ssh-keygen -l without the comment). */
export function sshFingerprintLine(key: KeyPacket): string {
  const blob = sshBlobFromKeyPacket(key);
  const { bits, label } = sshKeyDescription(blob);
  return `${bits} ${sshFingerprint(blob)} (${label})`;
}

/**
 * gpg's validity column for a user ID as the original showed it: it listed the host key
 * in a fresh GnuPG home (no trusted keys), so a usable user ID is `[ unknown]`, never
 * valid; a revoked or expired key makes every user ID so. Undefined: gpg would not have
 * imported the user ID (no good self-signature), so it is not listed.
 */
function uidValidity(key: Status, uid: Status): string | undefined {
  if (uid === 'invalid') return undefined;
  if (key === 'revoked' || uid === 'revoked') return ' revoked';
  if (key === 'expired' || uid === 'expired') return ' expired';
  return ' unknown';
}

/** The lines show-keys prints for one evaluated host certificate. */
export function showKeyLines(ev: EvaluatedCert): string[] {
  const p = ev.primary;
  const key = p.key;
  const selfFlags = ev.userIds.filter((u) => u.status === 'valid' && u.selfSig?.keyFlags !== undefined).sort((a, b) => b.selfSig!.created - a.selfSig!.created)[0]
    ?.selfSig?.keyFlags;
  // gpg counts a primary key as certification-capable whatever its flags say.
  let head = `pub   ${algorithmLabel(key)} ${day(key.created)} [${usageLetters((selfFlags ?? p.flags) | KeyFlag.Certify)}]`;
  if (p.status === 'revoked' && p.revocation) head += ` [revoked: ${day(p.revocation.time)}]`;
  else if (p.expires !== undefined) head += ` [${p.expires <= ev.now ? 'expired' : 'expires'}: ${day(p.expires)}]`;
  const lines = [head, `      ${key.fpr}`];
  // gpg lists the primary user ID first (its import moves it to the front).
  for (const u of [...ev.userIds].sort((a, b) => Number(b.primary) - Number(a.primary))) {
    const state = u.component.kind === 'userid' ? uidValidity(p.status, u.status) : undefined;
    if (state !== undefined) lines.push(`uid           [${state}] ${printable(u.text)}`);
  }
  // Subkeys as gpg lists them by default: usable ones only (no show-unusable-subkeys), after the user IDs.
  for (const sub of ev.subkeys) {
    if (sub.status !== 'valid') continue;
    let line = `sub   ${algorithmLabel(sub.key)} ${day(sub.key.created)} [${usageLetters(sub.flags)}]`;
    if (sub.expires !== undefined) line += ` [expires: ${day(sub.expires)}]`;
    lines.push(line);
  }
  if (p.revokers.length > 0) {
    lines.push('The following keys are allowed to revoke this host key:');
    for (const r of p.revokers) lines.push(`revoker: ${r.fingerprint}`);
  }
  lines.push(`OpenPGP fingerprint: ${key.fpr}`);
  let ssh: string;
  try {
    ssh = sshFingerprintLine(key);
  } catch {
    // A key with no SSH form (only possible for imported OpenPGP keys) has no SSH fingerprint.
    ssh = '(none: this key has no SSH form)';
  }
  lines.push(`ssh fingerprint: ${ssh}`);
  return lines;
}
