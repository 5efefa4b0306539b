/**
 * monkeysphere-host diagnostics: what an administrator must fix for clients to be able
 * to verify this host. Collects findings; the CLI prints them. Every outside fact
 * (sshd's host keys, the host name, the keyserver, accounts) comes through `DiagnosticsDeps`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvaluatedCert } from '../cert/types.js';
import { errorMessage, MsError, NotFoundError } from '../errors.js';
import type { Cert } from '../openpgp/cert.js';
import { issuedBy } from '../cert/evaluate.js';
import { SigType } from '../openpgp/signature.js';
import { parsePrivateKey, parsePublicKeyLine, sshBlobFromKeyPacket } from '../ssh/index.js';
import { evaluateHostCert } from './operations.js';
import { type HostKeyStore, minimalPublicCert } from './store.js';
import { parseServiceName, SERVICE_NAME_RE } from './service-name.js';

export interface Finding {
  /** A problem to fix, or a note about what could not be checked. */
  level: 'problem' | 'note';
  /** The host key concerned, if any. */
  fpr?: string;
  message: string;
  recommendation?: string;
}

export interface DiagnosticsDeps {
  now: number;
  /** This host's name, fully qualified when the system knows how (`hostname -f`). */
  hostname: () => string;
  /** The HostKey files sshd uses (`sshd -T`), or why they are unknown. */
  sshdHostKeys: () => { files: string[] } | { error: string };
  /** The keyserver's copy of a certificate; NotFoundError when it has none. Absent: keyserver not checked. */
  fetchPublished?: (fpr: string) => Promise<Cert>;
  /** The KEYSERVER setting, for messages. */
  keyserver: string;
  monkeysphereUser: string;
  userExists: (name: string) => Promise<boolean>;
}

const DAY = 86400;
const WARN_WINDOW = 30 * DAY;
const day = (t: number) => new Date(t * 1000).toISOString().slice(0, 10);

/** Reads `sshd -T` output: the HostKey lines. */
export function parseSshdHostKeys(sshdT: string): string[] {
  return sshdT
    .split('\n')
    .map((l) => /^hostkey\s+(.+)$/i.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => m[1]);
}

/** The SSH public key blob in a HostKey file: its `.pub`, else the private key itself. */
function hostKeyBlob(path: string): Buffer | undefined {
  try {
    if (existsSync(`${path}.pub`)) return parsePublicKeyLine(readFileSync(`${path}.pub`, 'utf8')).blob;
    return parsePrivateKey(readFileSync(path), { source: path }).blob;
  } catch {
    // Unreadable, encrypted or of an unsupported type: it cannot be this host key.
    return undefined;
  }
}

function thirdPartyCount(certs: Cert[], ev: EvaluatedCert): number {
  const valid = new Set(ev.userIds.filter((u) => u.status === 'valid').map((u) => u.text));
  let n = 0;
  for (const c of certs) {
    for (const u of c.users) {
      if (!valid.has(u.text)) continue;
      for (const s of u.signatures) {
        if (s.sig && !issuedBy(s.sig, c.primary) && s.sig.type >= SigType.GenericCert && s.sig.type <= SigType.PositiveCert) n++;
      }
    }
  }
  return n;
}

function packetBodies(cert: Cert): Set<string> {
  return new Set(cert.packets.map((p) => `${p.tag === 5 ? 6 : p.tag}:${(p.tag === 5 ? cert.primary.publicBody : p.body).toString('base64')}`));
}

/**
 * The ssh service name to recommend for this host: `ssh://NAME` when it passes the rule
 * import-key and add-servicename apply (a fully qualified name), else undefined. No
 * default-port check applies: there is no port.
 */
export function sshNameFor(hostname: string): string | undefined {
  try {
    return parseServiceName(`ssh://${hostname.toLowerCase().replace(/\.$/, '')}`, new Map()).text;
  } catch (err) {
    if (err instanceof MsError) return undefined;
    throw err;
  }
}

/** A service name for recommendations: this host's, or a placeholder the admin must fill in, saying why. */
function recommendedName(hostname: string): { name: string; why: string } {
  const name = sshNameFor(hostname);
  if (name) return { name, why: '' };
  return {
    name: 'ssh://HOST.DOMAIN',
    why: ` with this host's fully qualified name for HOST.DOMAIN (the system's name for it, ${JSON.stringify(hostname)}, is not fully qualified, and a service name must be)`,
  };
}

/** Runs every check; the result is empty when everything is in order. */
export async function diagnose(store: HostKeyStore, deps: DiagnosticsDeps): Promise<Finding[]> {
  const findings: Finding[] = [];
  const problem = (message: string, recommendation?: string, fpr?: string) => findings.push({ level: 'problem', message, recommendation, fpr });
  const note = (message: string, fpr?: string) => findings.push({ level: 'note', message, fpr });

  if (!(await deps.userExists(deps.monkeysphereUser))) {
    problem(`No monkeysphere user found (MONKEYSPHERE_USER=${deps.monkeysphereUser}).`, `create it, e.g.: adduser --system ${deps.monkeysphereUser}`);
  } else if (deps.monkeysphereUser === 'root') {
    note('MONKEYSPHERE_USER is root: keyserver answers are handled with root privileges');
  }
  if (/pool\.sks-keyservers\.net/.test(deps.keyserver)) {
    problem(`KEYSERVER is ${deps.keyserver}, which no longer exists (shut down in 2021).`, 'set KEYSERVER in monkeysphere-host.conf, e.g. KEYSERVER=hkps://keyserver.ubuntu.com');
  }
  for (const p of store.permissionProblems()) problem(`Bad permissions on the host key store: ${p}.`, `chmod 0700 ${store.paths.keysDir} and 0600 the files in it`);

  const keys = store.list();
  const hostname = deps.hostname().toLowerCase().replace(/\.$/, '');
  const rec = recommendedName(hostname);
  if (keys.length === 0) {
    const oldHome = join(store.paths.sysDataDir, 'host');
    problem(
      'No host key found.',
      existsSync(oldHome)
        ? `migrate the original's keyring ${oldHome}, keeping each key's fingerprint and certifications: monkeysphere-host migrate --dry-run, then monkeysphere-host migrate (it needs ${oldHome}/pubring.kbx or pubring.gpg)`
        : `run 'monkeysphere-host import-key /etc/ssh/ssh_host_ed25519_key ${rec.name}'${rec.why}`,
    );
    return findings;
  }

  const sshd = deps.sshdHostKeys();
  const sshdBlobs = 'files' in sshd ? sshd.files.map((f) => ({ file: f, blob: hostKeyBlob(f) })) : [];
  if ('error' in sshd) note(`could not read sshd's configuration (${sshd.error}); sshd's host keys were not compared`);

  for (const k of keys) {
    const fpr = k.fpr;
    const ev = await evaluateHostCert(k.cert, deps.now);
    const p = ev.primary;
    if (p.key.created > deps.now) problem(`Host key was created in the future (${day(p.key.created)}). Is the clock right?`, 'check the clock; use NTP', fpr);
    if (p.status === 'revoked') problem('Host key is revoked.', "import a new key with 'monkeysphere-host import-key'", fpr);
    else if (p.expires !== undefined && p.expires <= deps.now) problem('Host key is expired.', "extend its lifetime with 'monkeysphere-host set-expire'", fpr);
    else if (p.expires !== undefined && p.expires < deps.now + WARN_WINDOW) {
      problem(`Host key expires in less than 30 days: ${day(p.expires)}.`, "extend its lifetime with 'monkeysphere-host set-expire'", fpr);
    }
    const names = ev.userIds.filter((u) => u.status === 'valid' && u.component.kind === 'userid').map((u) => u.text);
    if (names.length === 0) problem('Host key has no valid service name.', "add one with 'monkeysphere-host add-servicename'", fpr);
    const sshNames = names.map((n) => SERVICE_NAME_RE.exec(n)).filter((m): m is RegExpExecArray => m !== null && m[1] === 'ssh');
    if (sshNames.length > 0) {
      if (!sshNameFor(hostname)) {
        note(`this host's name (${hostname}) is not fully qualified, so the key's ssh service names were not compared with it`, fpr);
      } else if (!sshNames.some((m) => m[2].replace(/\.$/, '') === hostname)) {
        problem(
          `No ssh service name on host key matches this host's name (${hostname}): ${sshNames.map((m) => m[0]).join(', ')}.`,
          `add one with 'monkeysphere-host add-servicename ${rec.name}'`,
          fpr,
        );
      }
      if ('files' in sshd) {
        let mine: Buffer | undefined;
        try {
          mine = sshBlobFromKeyPacket(p.key);
        } catch {
          mine = undefined;
        }
        if (!mine || !sshdBlobs.some((b) => b.blob?.equals(mine))) {
          problem(
            `sshd does not use this host key (its HostKey files: ${sshd.files.join(', ') || 'none'}).`,
            `import the key sshd uses, e.g. 'monkeysphere-host import-key ${sshd.files[0] ?? '/etc/ssh/ssh_host_ed25519_key'} ${rec.name}'${rec.why}, or add its file as a HostKey in sshd_config`,
            fpr,
          );
        }
      }
    }

    const certs: Cert[] = [k.cert];
    let checkedRemote = false;
    if (deps.fetchPublished) {
      try {
        const remote = await deps.fetchPublished(fpr);
        certs.push(remote);
        checkedRemote = true;
        const have = packetBodies(remote);
        const missing = [...packetBodies(minimalPublicCert(k.cert))].filter((b) => !have.has(b));
        if (missing.length > 0) problem(`The copy on ${deps.keyserver} is out of date (${missing.length} packet(s) missing).`, "run 'monkeysphere-host publish-keys'", fpr);
      } catch (err) {
        if (err instanceof NotFoundError) {
          checkedRemote = true;
          problem(`Host key is not published on ${deps.keyserver}.`, "run 'monkeysphere-host publish-keys'", fpr);
        } else if (err instanceof MsError) note(`could not check ${deps.keyserver}: ${errorMessage(err)}`, fpr);
        else throw err;
      }
    }
    if (thirdPartyCount(certs, ev) === 0) {
      problem(
        `No third-party certifications on host key${checkedRemote ? '' : ' (only the local copy was checked; CHECK_KEYSERVER=false)'}: clients cannot validate it through the web of trust.`,
        `have an administrator certify it (gpg --import ${store.paths.pubFile}; gpg --sign-key ${fpr}) and publish the certification`,
        fpr,
      );
    }
  }
  return findings;
}
