/**
 * known_hosts text as Monkeysphere edits it (behaviour inventory §2, "Files"): lines
 * `<host> <type> <base64> MonkeySphere<date>`, the host being the service name without
 * `ssh://` and `[host]:port` for ports other than 22, hashed (`|1|salt|hmac`, as
 * `ssh-keygen -H`) when asked. Every line for a host with one of its keys that is no longer
 * acceptable goes, so revoked keys leave.
 * Unlike the original, a line is matched by its parsed host names (hashed ones too, which the
 * original never removed) and its key, not by substring; lines that are not known_hosts
 * lines are kept as they are and reported. Pure: text in, text out.
 */
import { createHmac, randomBytes } from 'node:crypto';

/** The known_hosts host of a service name's host part: `host`, or `[host]:port` when a port is given. */
export function knownHostsName(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort;
  const colons = hostPort.split(':').length - 1;
  // One colon: host:port. None, or several (a bare IPv6 address): no port.
  if (colons !== 1) return hostPort;
  const [host, port] = hostPort.split(':');
  return port === '22' || port === '' ? host : `[${host}]:${port}`;
}

/** ssh's hashed host name (`HashKnownHosts`): HMAC-SHA1 keyed by a random 20-byte salt. */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

function hashedMatches(entry: string, name: string): boolean {
  const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(entry);
  if (!m) return false;
  const salt = Buffer.from(m[1], 'base64');
  return createHmac('sha1', salt).update(name).digest('base64') === m[2];
}

/** Whether a host field (comma-separated names, or one hashed name) names `name` exactly. */
export function hostFieldNames(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedMatches(field, name);
  return field.split(',').some((entry) => entry === name);
}

export interface KnownHostsLine {
  /** `@cert-authority` or `@revoked`, if any. */
  marker?: string;
  hosts: string;
  /** `type base64`. */
  key: string;
}

/** A known_hosts line's fields; undefined for comments, blank lines and lines that are not known_hosts lines. */
export function parseKnownHostsLine(line: string): KnownHostsLine | undefined {
  const fields = line.trim().split(/[ \t]+/);
  if (fields[0] === '' || fields[0].startsWith('#')) return undefined;
  const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
  if (fields.length < 3 || !/^[A-Za-z0-9+/]+={0,2}$/.test(fields[2]) || !blobOfType(fields[2], fields[1])) return undefined;
  return { marker, hosts: fields[0], key: `${fields[1]} ${fields[2]}` };
}

/** Whether base64 `b64` is an SSH key blob of type `type` (its first string). */
function blobOfType(b64: string, type: string): boolean {
  const blob = Buffer.from(b64, 'base64');
  if (blob.length < 4) return false;
  const n = blob.readUInt32BE(0);
  return n === type.length && n > 0 && blob.subarray(4, 4 + n).toString('latin1') === type;
}

/** Whether a line is a comment or blank (kept, never reported). */
function isCommentOrBlank(line: string): boolean {
  const t = line.trim();
  return t === '' || t.startsWith('#');
}

/** Line numbers (1-based) of lines that are neither known_hosts lines nor comments. */
export function garbageLines(text: string): number[] {
  const out: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (!isCommentOrBlank(line) && !parseKnownHostsLine(line)) out.push(i + 1);
  });
  return out;
}

/** The host names of a known_hosts file's lines (ssh's plain names, split on commas), hashed ones left out: what `update-known_hosts` with no host goes through. */
export function knownHostsHosts(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const parsed = parseKnownHostsLine(line);
    if (!parsed || parsed.marker || parsed.hosts.startsWith('|')) continue;
    for (const h of parsed.hosts.split(',')) if (h !== '' && !out.includes(h)) out.push(h);
  }
  return out;
}

/** Whether any (unmarked) line names `name` (hashed or not), whatever its key: ssh-keygen -F. */
export function knowsHost(text: string, name: string): boolean {
  return text.split('\n').some((line) => {
    const parsed = parseKnownHostsLine(line);
    return parsed !== undefined && parsed.marker === undefined && hostFieldNames(parsed.hosts, name);
  });
}

export interface HostKeys {
  /** The known_hosts name (`host` or `[host]:port`). */
  name: string;
  /** Every key processed for the host, acceptable or not. */
  keys: Array<{ ssh: string; ok: boolean }>;
}

export interface EditOptions {
  /** `MonkeySphere<date>`. */
  marker: string;
  hash: boolean;
  /** For tests: the salt of each hashed line. */
  salt?: () => Buffer;
}

/**
 * known_hosts `text` with each host's unacceptable keys removed and its acceptable keys
 * present: a key already listed for the host stays where it is (so an unchanged answer
 * leaves the file unchanged, where the original rewrote every line with a new date), the
 * others are appended in the order given.
 */
export function editKnownHosts(text: string, hosts: readonly HostKeys[], opts: EditOptions): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const present = new Set<string>();
  // Hosts by the keys found for them: a line is compared only with hosts that have its key,
  // so updating every host of a long known_hosts stays linear.
  const hostsByKey = new Map<string, HostKeys[]>();
  for (const h of hosts) {
    for (const ssh of new Set(h.keys.map((k) => k.ssh))) {
      const list = hostsByKey.get(ssh);
      if (list) list.push(h);
      else hostsByKey.set(ssh, [h]);
    }
  }
  const kept = lines.filter((line) => {
    const parsed = parseKnownHostsLine(line);
    if (!parsed || parsed.marker) return true;
    for (const h of hostsByKey.get(parsed.key) ?? []) {
      if (!hostFieldNames(parsed.hosts, h.name)) continue;
      const processed = h.keys.filter((k) => k.ssh === parsed.key);
      // The same key may come from several certificates: one acceptable binding suffices.
      if (!processed.some((k) => k.ok)) return false;
      present.add(`${h.name}\n${parsed.key}`);
    }
    return true;
  });
  for (const h of hosts) {
    for (const k of h.keys) {
      const id = `${h.name}\n${k.ssh}`;
      if (!k.ok || present.has(id)) continue;
      present.add(id);
      const name = opts.hash ? hashHostName(h.name, opts.salt?.()) : h.name;
      kept.push(`${name} ${k.ssh} ${opts.marker}`);
    }
  }
  return kept.length === 0 ? '' : `${kept.join('\n')}\n`;
}
