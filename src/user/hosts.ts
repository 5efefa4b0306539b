/**
 * Host keys from the web of trust: the service name of a host (`ssh://host[:port]`), the
 * keys its certificates grant, the original's keyserver policy for ssh-proxycommand, and
 * update-known_hosts (behaviour inventory §2 and §4).
 */
import { InputError } from '../errors.js';
import { monkeysphereMarker } from '../auth/authorized-keys.js';
import type { UidCert } from './home-keys.js';
import { editKnownHosts, garbageLines, type HostKeys, knownHostsName, knowsHost } from './known-hosts.js';
import { editKeyFile, readOwnFile, touchKeyFile } from './key-files.js';
import type { UserTool } from './tool.js';

/** A host as ssh and Monkeysphere name it: `host`, or `host:port` for other ports than 22. */
export interface HostTarget {
  host: string;
  port: number;
  /** `host` or `host:port`: what follows `ssh://` in the service name. */
  hostPort: string;
  /** `ssh://host[:port]`. */
  userId: string;
  /** The known_hosts name: `host` or `[host]:port`. */
  knownHostsName: string;
}

const HOST_NAME = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252}[A-Za-z0-9_.])?|[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?)$/;

/**
 * The host named by `text` (`host`, `host:port`, `[host]:port`, an IPv6 address) and an
 * optional separate port.
 * @throws InputError (MS_USER_HOST) for anything that is not a host name or address (shell
 * metacharacters, spaces, wildcards) or a bad port.
 */
export function parseHost(text: string, portText?: string): HostTarget {
  let host = text;
  let port = portText;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1];
    port = port ?? bracketed[2];
  } else if (text.split(':').length === 2) {
    [host, port] = [text.split(':')[0], port ?? text.split(':')[1]];
  }
  if (!HOST_NAME.test(host) || host.includes('..')) {
    throw new InputError('MS_USER_HOST', `not a host name or address: ${JSON.stringify(text)}`, { hints: ['give a host name such as host.example.org, optionally with :PORT'] });
  }
  const portNumber = port === undefined || port === '' ? 22 : Number(port);
  if (!/^\d{0,5}$/.test(port ?? '') || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) {
    throw new InputError('MS_USER_HOST', `not a port number: ${JSON.stringify(port)}`);
  }
  const hostPort = portNumber === 22 ? host : `${host}:${portNumber}`;
  return { host, port: portNumber, hostPort, userId: `ssh://${hostPort}`, knownHostsName: knownHostsName(hostPort) };
}

/** The keys `certs` name, acceptable or not, unacceptable first (as the original sorts them). */
export function keysOf(certs: readonly UidCert[]): Array<{ ssh: string; ok: boolean }> {
  const all = certs.flatMap((c) => c.keys.map((k) => ({ ssh: k.ssh, ok: k.ok })));
  return [...all.filter((k) => !k.ok), ...all.filter((k) => k.ok)];
}

export interface HostsResult {
  /** Keys found (acceptable or not), and acceptable ones: the original's KEYS_PROCESSED and KEYS_VALID. */
  processed: number;
  valid: number;
  changed: boolean;
}

function countKeys(hosts: readonly HostKeys[]): { processed: number; valid: number } {
  let processed = 0;
  let valid = 0;
  for (const h of hosts) {
    processed += h.keys.length;
    valid += h.keys.filter((k) => k.ok).length;
  }
  return { processed, valid };
}

/**
 * update-known_hosts for `targets`: asks the keyserver first when CHECK_KEYSERVER says so
 * (without holding the file's lock), then edits known_hosts in one locked, atomic step.
 */
export async function updateKnownHosts(tool: UserTool, targets: readonly HostTarget[], checkKeyserver: boolean): Promise<HostsResult> {
  const path = tool.settings.config.KNOWN_HOSTS;
  const fileOpts = { strictModes: tool.settings.config.STRICT_MODES, home: tool.home, what: 'known_hosts file' };
  touchKeyFile(path);
  // Checked before the keyserver is asked: a file we may not use stops the run first.
  readOwnFile(path, fileOpts);
  if (checkKeyserver) await tool.fetch(targets.map((t) => t.userId));
  const hosts: HostKeys[] = [];
  for (const t of targets) {
    tool.log.verbose(`processing: ${t.userId}`);
    hosts.push({ name: t.knownHostsName, keys: keysOf(await tool.certsFor(t.userId)) });
  }
  const marker = monkeysphereMarker(tool.now);
  const changed = await editKeyFile(path, fileOpts, (text) => {
    for (const n of garbageLines(text)) tool.log.info(`${path}:${n}: not a known_hosts line; left as it is`);
    return editKnownHosts(text, hosts, { marker, hash: tool.settings.config.HASH_KNOWN_HOSTS });
  });
  if (changed) tool.log.debug('known_hosts file updated.');
  return { ...countKeys(hosts), changed };
}

/**
 * Whether ssh-proxycommand asks the keyserver (§4): not when the keyring has the host's
 * service name, nor when known_hosts already knows the host; else yes. CHECK_KEYSERVER from
 * a config file or the environment overrides this.
 */
export async function proxyChecksKeyserver(tool: UserTool, target: HostTarget): Promise<boolean> {
  const source = tool.settings.sources.CHECK_KEYSERVER;
  if (source.kind !== 'default') return tool.settings.config.CHECK_KEYSERVER;
  if ((await tool.certsFor(target.userId)).length > 0) return false;
  let text: string | undefined;
  try {
    text = readOwnFile(tool.settings.config.KNOWN_HOSTS, { strictModes: false, home: tool.home, what: 'known_hosts file' });
  } catch {
    text = undefined;
  }
  return !(text !== undefined && knowsHost(text, target.knownHostsName));
}
