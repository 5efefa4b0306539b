/**
 * `gpg-cmd`: the part of gpg's command line that administrators and the original's
 * tests used on the server's keyring, run against our store instead: `--import`,
 * `--export`, `--list-keys`, `--recv-keys`, `--refresh-keys`, `--delete-keys`, with the
 * harmless options around them. Anything else is refused with a clear "not supported" error.
 * Listings escape what certificates say (src/util/printable.ts): user IDs are anyone's choice.
 * Not here: printing (the CLI prints what these return) or fetching (a CertFetcher is passed in).
 */
import { evaluateCerts } from '../cert/evaluate.js';
import { isoDate, type UnixTime } from '../clock.js';
import type { EvaluatedCert } from '../cert/types.js';
import { InputError, NotFoundError, UnsupportedError, UsageError } from '../errors.js';
import { Keyring } from '../keyring/keyring.js';
import { armor, dearmor, isBinary } from '../openpgp/armor.js';
import { type Cert, readCerts } from '../openpgp/cert.js';
import { type KeySpec, parseKeySpec } from '../openpgp/fingerprint.js';
import type { KeyPacket } from '../openpgp/key-packet.js';
import { Tag } from '../openpgp/packets.js';
import { KeyFlag } from '../openpgp/signature.js';
import { Verifier } from '../verify/verifier.js';
import { colonEscape, printable, quoted } from '../util/printable.js';
import { findOne, holdsKey } from './certifiers.js';
import { type DroppedCounts, ingestCerts } from './ingest.js';
import type { AuthStore } from './store.js';


export type GpgCommand = 'import' | 'export' | 'list-keys' | 'recv-keys' | 'refresh-keys' | 'delete-keys';

export interface GpgInvocation {
  command: GpgCommand;
  args: string[];
  armor: boolean;
  colons: boolean;
  keyserver?: string;
  /** gpg's --batch: never ask. */
  batch: boolean;
  /** gpg's --yes: assume yes to questions. */
  yes: boolean;
}

const COMMANDS: Record<string, GpgCommand> = {
  '--import': 'import',
  '--export': 'export',
  '--list-keys': 'list-keys',
  '--list-key': 'list-keys',
  '-k': 'list-keys',
  '--list-public-keys': 'list-keys',
  '--fingerprint': 'list-keys',
  '--recv-keys': 'recv-keys',
  '--recv-key': 'recv-keys',
  '--recv': 'recv-keys',
  '--refresh-keys': 'refresh-keys',
  '--delete-keys': 'delete-keys',
  '--delete-key': 'delete-keys',
};

/** Options that change nothing here (gpg's chatter and listing-mode switches). */
const IGNORED = new Set(['--quiet', '-q', '--no-tty', '--no-greeting', '--fixed-list-mode', '--with-fingerprint', '--no-auto-check-trustdb', '--verbose', '-v']);

/**
 * Parses a gpg command line.
 * @throws UnsupportedError (MS_AUTH_GPG_UNSUPPORTED) for any other option; UsageError (MS_AUTH_GPG_USAGE) for no or two commands.
 */
export function parseGpgArgs(argv: string[]): GpgInvocation {
  let command: GpgCommand | undefined;
  const args: string[] = [];
  let armorOut = false;
  let colons = false;
  let keyserver: string | undefined;
  let batch = false;
  let yes = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a in COMMANDS) {
      if (command && command !== COMMANDS[a]) throw new UsageError('MS_AUTH_GPG_USAGE', `conflicting commands ${JSON.stringify(a)} and --${command}`);
      command = COMMANDS[a];
    } else if (a === '--armor' || a === '-a') armorOut = true;
    else if (a === '--with-colons') colons = true;
    else if (a === '--batch') batch = true;
    else if (a === '--yes') yes = true;
    else if (a === '--keyserver') {
      keyserver = argv[++i];
      if (keyserver === undefined) throw new UsageError('MS_AUTH_GPG_USAGE', '--keyserver needs an argument');
    } else if (a.startsWith('--keyserver=')) keyserver = a.slice('--keyserver='.length);
    else if (IGNORED.has(a)) continue;
    else if (a.startsWith('-') && a !== '-') {
      throw new UnsupportedError('MS_AUTH_GPG_UNSUPPORTED', `gpg option ${JSON.stringify(a)} is not supported`, {
        hints: ['gpg-cmd supports --import, --export [--armor], --list-keys [--with-colons], --recv-keys, --refresh-keys and --delete-keys'],
      });
    } else args.push(a);
  }
  if (!command) {
    throw new UsageError('MS_AUTH_GPG_USAGE', 'no gpg command given', {
      hints: ['gpg-cmd supports --import, --export [--armor], --list-keys [--with-colons], --recv-keys, --refresh-keys and --delete-keys'],
    });
  }
  return { command, args, armor: armorOut, colons, keyserver, batch, yes };
}

/** Reads certificates from armored or binary input. @throws InputError (MS_AUTH_GPG_INPUT) when nothing usable is in it. */
export function readKeyData(bytes: Buffer, what: string): { certs: Cert[]; problems: string[] } {
  let data: Buffer;
  try {
    data = isBinary(bytes) ? bytes : dearmor(bytes);
  } catch (err) {
    throw new InputError('MS_AUTH_GPG_INPUT', `${what}: not OpenPGP data: ${(err as Error).message}`, { cause: err });
  }
  const { certs, problems } = readCerts(data);
  return { certs, problems: problems.map((p) => p.message) };
}

/** The certificate without its non-exportable (local) signatures, as gpg imports and exports by default. */
export function withoutLocalSignatures(cert: Cert): Cert {
  const local = new Set<Buffer>();
  for (const list of [cert.directSigs, ...cert.users.map((u) => u.signatures), ...cert.subkeys.map((s) => s.signatures)]) {
    for (const s of list) if (s.sig && !s.sig.exportable) local.add(s.packet.raw);
  }
  if (local.size === 0) return cert;
  const keep = cert.packets.filter((p) => !local.has(p.raw) && p.tag !== Tag.Trust);
  return readCerts(Buffer.concat(keep.map((p) => p.raw))).certs[0];
}

export interface ImportReport {
  fpr: string;
  keyId: string;
  userId: string;
  status: 'inserted' | 'updated' | 'unchanged';
  /** What the ingest path left out (src/auth/ingest.ts). */
  dropped: DroppedCounts;
}

/** Imports public certificates into the store through the one ingest path (local signatures and floods dropped); secret keys are refused. */
export async function importCerts(store: AuthStore, certs: Cert[], now: UnixTime): Promise<ImportReport[]> {
  const out: ImportReport[] = [];
  for (const c of certs) {
    if (c.secret) throw new InputError('MS_AUTH_GPG_SECRET', `refusing to import secret key ${c.primary.fpr}`, { hints: ['import the public key (gpg --export)'] });
  }
  const results = (await ingestCerts(store, certs, now)).certs;
  results.forEach((r) => {
    out.push({ fpr: r.fpr, keyId: r.cert.primary.keyId, userId: r.cert.users.find((u) => u.kind === 'userid')?.text ?? '', status: r.status, dropped: r.dropped });
  });
  return out;
}

/** gpg's import report lines. */
export function formatImport(reports: ImportReport[]): string {
  let out = '';
  for (const r of reports) {
    const what = r.status === 'inserted' ? 'public key imported' : r.status === 'updated' ? 'updated' : 'not changed';
    out += `gpg: key ${r.keyId}: ${quoted(r.userId)} ${what}\n`;
  }
  out += `gpg: Total number processed: ${reports.length}\n`;
  const n = (s: ImportReport['status']) => reports.filter((r) => r.status === s).length;
  if (n('inserted')) out += `gpg:               imported: ${n('inserted')}\n`;
  if (n('unchanged')) out += `gpg:              unchanged: ${n('unchanged')}\n`;
  if (n('updated')) out += `gpg:                updated: ${n('updated')}\n`;
  return out;
}

/**
 * The key a name designates when it is hex as gpg classifies it: a key ID (8 or 16 digits)
 * or fingerprint (40 or 64, spaces allowed), with `0x` and a trailing `!`; else a user ID search.
 */
function hexName(raw: string): KeySpec | undefined {
  if (!/^(0x)?[0-9A-Fa-f\s]+!?$/.test(raw.trim())) return undefined;
  try {
    const spec = parseKeySpec(raw);
    return spec.kind === 'fingerprint' || !/\s/.test(raw.trim()) ? spec : undefined;
  } catch (err) {
    if (err instanceof InputError) return undefined;
    throw err;
  }
}

/** The stored certificates the arguments name (all when none); unknown names are an error. */
export async function selectCerts(store: AuthStore, ids: string[]): Promise<Cert[]> {
  if (ids.length === 0) {
    const all: Cert[] = [];
    for await (const s of store.certs.all()) all.push(s.cert);
    return all;
  }
  const out = new Map<string, Cert>();
  for (const raw of ids) {
    const id = raw.replace(/!$/, '');
    const spec = hexName(raw);
    let found: Cert[];
    if (spec) found = (await store.certs.byKeyId(spec.kind === 'fingerprint' ? spec.fpr : spec.kind === 'keyid' ? spec.keyId : spec.hex)).map((s) => s.cert).filter((c) => holdsKey(c, spec));
    else {
      const text = id.startsWith('=') ? id.slice(1) : id;
      found = id.startsWith('=') ? (await store.certs.byExactUserId(text)).map((s) => s.cert) : await substringSearch(store, text);
    }
    if (found.length === 0) throw new NotFoundError('MS_AUTH_GPG_NO_KEY', `key ${JSON.stringify(raw)} not found in the store`);
    for (const c of found) out.set(c.primary.fpr, c);
  }
  return [...out.values()];
}

/**
 * The certificates `--delete-keys` names, one per name: a fingerprint names the certificate
 * whose primary key it is, never one that merely carries that key as a subkey; a key ID the
 * one certificate it designates (findOne). `exact` is gpg's notion: every name was a full
 * fingerprint, which --batch accepts without --yes. The trust core is never deleted.
 * @throws UsageError (MS_AUTH_GPG_USAGE) for no names or a name that is not a key ID or
 *   fingerprint; InputError (MS_AUTH_GPG_CORE) for the trust core; findOne's errors.
 */
export async function selectForDeletion(store: AuthStore, ids: string[], coreFpr: string): Promise<{ certs: Cert[]; exact: boolean }> {
  if (ids.length === 0) throw new UsageError('MS_AUTH_GPG_USAGE', '--delete-keys needs key IDs or fingerprints');
  const out = new Map<string, Cert>();
  let exact = true;
  for (const raw of ids) {
    let kind: string;
    try {
      kind = parseKeySpec(raw).kind;
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      throw new UsageError('MS_AUTH_GPG_USAGE', `--delete-keys takes key IDs or fingerprints, not ${quoted(raw)}`, { hints: ['gpg-cmd --list-keys shows the fingerprints', err.message] });
    }
    if (kind !== 'fingerprint') exact = false;
    const cert = await findOne(store, raw);
    if (cert.primary.fpr === coreFpr) {
      throw new InputError('MS_AUTH_GPG_CORE', `refusing to delete the trust core ${coreFpr}`, { hints: ['the trust core is the root of this server\'s trust; remove a certifier with remove-id-certifier'] });
    }
    out.set(cert.primary.fpr, cert);
  }
  return { certs: [...out.values()], exact };
}

/** Deletes the certificates from the store (with every signature on them, local ones included). */
export async function deleteCerts(store: AuthStore, certs: Cert[]): Promise<void> {
  for (const c of certs) await store.certs.delete(c.primary.fpr);
}

/** Certificates with a user ID containing `text`, case-insensitively, as gpg's substring search. */
async function substringSearch(store: AuthStore, text: string): Promise<Cert[]> {
  if (text === '') {
    // Every user ID contains the empty string.
    const all: Cert[] = [];
    for await (const s of store.certs.all()) if (s.cert.users.some((u) => u.kind === 'userid')) all.push(s.cert);
    return all;
  }
  return (await store.searchUserIds(text)).map((s) => s.cert);
}

/** What `--export` writes: the certificates without local signatures, binary or armored. */
export function exportCerts(certs: Cert[], armored: boolean): Buffer | string {
  const bytes = Buffer.concat(certs.map((c) => Buffer.concat(withoutLocalSignatures(c).packets.filter((p) => p.tag !== Tag.Trust).map((p) => p.raw))));
  return armored ? armor('PUBLIC KEY BLOCK', bytes) : bytes;
}

function algoName(k: KeyPacket): string {
  const m = k.material;
  if (m.kind === 'rsa') return `rsa${k.bits}`;
  if (m.kind === 'dsa') return `dsa${k.bits}`;
  if (m.kind === 'elgamal') return `elg${k.bits}`;
  if (m.kind === 'ecc') return m.curve?.name ?? 'ecc';
  if (m.kind === 'native') return k.algorithm === 27 ? 'ed25519' : k.algorithm === 25 ? 'cv25519' : `alg${k.algorithm}`;
  return `alg${k.algorithm}`;
}

function caps(flags: number): string {
  return `${flags & KeyFlag.Sign ? 'S' : ''}${flags & KeyFlag.Certify ? 'C' : ''}${flags & (KeyFlag.EncryptCommunications | KeyFlag.EncryptStorage) ? 'E' : ''}${flags & KeyFlag.Authenticate ? 'A' : ''}`;
}

const WORDS: Record<string, string> = { u: 'ultimate', f: '  full  ', m: 'marginal', n: ' never  ', q: ' undef  ', '-': ' unknown', e: ' expired', r: ' revoked', i: ' invalid' };

function statusLetter(status: string): string | undefined {
  return status === 'revoked' ? 'r' : status === 'expired' ? 'e' : status === 'invalid' ? 'i' : undefined;
}

/**
 * A gpg-style listing of `certs` at `now`; user ID validity comes from `validity` (the
 * precomputed bindings), overridden by revocation and expiry.
 */
export async function listKeys(store: AuthStore, certs: Cert[], now: UnixTime, colons: boolean, validityOf: (fpr: string, uid: string) => Promise<string>): Promise<string> {
  const ring = new Keyring(certs);
  const evaluated: EvaluatedCert[] = await evaluateCerts([...ring], ring, { now, verifier: new Verifier({ cache: store.cache }), certifications: false });
  const letters = new Map<string, string>();
  for (const ev of evaluated) for (const u of ev.userIds) letters.set(`${ev.fpr}\0${u.text}`, await validityOf(ev.fpr, u.text));
  const validity = (fpr: string, uid: string) => letters.get(`${fpr}\0${uid}`) ?? '-';
  let out = '';
  for (const ev of evaluated) {
    const uidLetters = ev.userIds.filter((u) => u.component.kind === 'userid').map((u) => statusLetter(u.status) ?? validity(ev.fpr, u.text));
    const rank = 'ufmqn-'.split('');
    const keyLetter = statusLetter(ev.primary.status) ?? uidLetters.sort((a, b) => rank.indexOf(a) - rank.indexOf(b))[0] ?? '-';
    const p = ev.primary;
    if (colons) {
      // gpg: the key's own usage in lowercase, then what its usable keys can do together in uppercase.
      let all = p.status === 'valid' ? p.flags : 0;
      for (const s of ev.subkeys) if (s.status === 'valid') all |= s.flags;
      out += `pub:${keyLetter}:${p.key.bits}:${p.key.algorithm}:${p.key.keyId}:${p.key.created}:${p.expires ?? ''}::-:::${caps(p.flags).toLowerCase()}${caps(all)}:\n`;
      out += `fpr:::::::::${ev.fpr}:\n`;
    } else {
      const exp = p.expires ? ` [${p.status === 'expired' ? 'expired' : 'expires'}: ${isoDate(p.expires)}]` : '';
      out += `pub   ${algoName(p.key)} ${isoDate(p.key.created)} [${caps(p.flags)}]${p.status === 'revoked' ? ' [revoked]' : ''}${exp}\n      ${ev.fpr}\n`;
    }
    for (const u of ev.userIds) {
      if (u.component.kind !== 'userid') continue;
      const letter = statusLetter(u.status) ?? validity(ev.fpr, u.text);
      if (colons) out += `uid:${letter}::::${u.selfSig?.created ?? ''}::::${colonEscape(u.text)}::::::::::0:\n`;
      else out += `uid           [${WORDS[letter] ?? ' unknown'}] ${printable(u.text)}\n`;
    }
    for (const s of ev.subkeys) {
      const letter = statusLetter(s.status) ?? keyLetter;
      if (colons) {
        out += `sub:${letter}:${s.key.bits}:${s.key.algorithm}:${s.key.keyId}:${s.key.created}:${s.expires ?? ''}:::::${caps(s.flags).toLowerCase()}:\n`;
        out += `fpr:::::::::${s.key.fpr}:\n`;
      } else {
        const exp = s.expires ? ` [${s.status === 'expired' ? 'expired' : 'expires'}: ${isoDate(s.expires)}]` : '';
        out += `sub   ${algoName(s.key)} ${isoDate(s.key.created)} [${caps(s.flags)}]${s.status === 'revoked' ? ' [revoked]' : ''}${exp}\n`;
      }
    }
    if (!colons) out += '\n';
  }
  return out;
}
