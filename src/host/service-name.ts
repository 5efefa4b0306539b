/**
 * Service names, the user IDs of host keys: `scheme://fully.qualified.name[:port]`,
 * lower case. The checks of the original's check_service_name, plus the one it meant
 * to make and never did: a port that is the scheme's default (ssh://host:22) is
 * refused, since clients look the name up without it.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

export const SERVICE_NAME_RE = /^([a-z0-9]+):\/\/([a-z0-9-]+(?:\.[a-z0-9-]+)+\.?)(?::([1-9][0-9]{0,4}))?$/;

export interface ServiceName {
  text: string;
  scheme: string;
  host: string;
  port?: number;
}

function invalid(name: string, why: string, hints: string[] = []): UsageError {
  return new UsageError('MS_HOST_SERVICE_NAME', `not a valid service name: ${JSON.stringify(name)}: ${why}`, { hints, data: { name } });
}

/** Default ports by service name from services(5) (e.g. /etc/services): ssh 22, https 443. */
export function readServices(path = '/etc/services'): Map<string, number> {
  const out = new Map<string, number>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // No services database: default-port checks fall back to nothing.
    return out;
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^(\S+)\s+(\d+)\/tcp\b(.*)$/.exec(line);
    if (!m) continue;
    for (const name of [m[1], ...m[3].trim().split(/\s+/).filter(Boolean)]) if (!out.has(name)) out.set(name, Number(m[2]));
  }
  return out;
}

/**
 * Checks and splits a service name.
 * @throws UsageError (MS_HOST_SERVICE_NAME) saying what is wrong: upper case or
 *   whitespace, characters outside [a-z0-9./:-], no `scheme://`, a host without a dot,
 *   a bad or out-of-range port, or the scheme's default port written out.
 */
export function parseServiceName(name: string, services: ReadonlyMap<string, number> = readServices()): ServiceName {
  if (name === '') throw invalid(name, 'it is empty', ['e.g. ssh://host.example.org']);
  if (/\s/.test(name) || name.toLowerCase() !== name) {
    throw invalid(name, 'service names must be lower case, with no whitespace', [`try ${JSON.stringify(name.replace(/\s/g, '').toLowerCase())}`]);
  }
  if (!/^[a-z0-9./:-]+$/.test(name)) {
    throw invalid(name, 'only lower-case ASCII letters, digits, dots, hyphens, slashes and a colon are allowed', [
      'for internationalized names use the ASCII (punycode) form',
    ]);
  }
  if (!/^[a-z0-9]+:\/\//.test(name)) throw invalid(name, 'it must begin with the type of service and ://', ['e.g. ssh://host.example.org']);
  const m = SERVICE_NAME_RE.exec(name);
  if (!m) {
    throw invalid(name, "it must be of the form 'scheme://fully.qualified.domain[:port]'", [
      'the host must be fully qualified (contain a dot); a port has 1 to 5 digits and no leading zero',
    ]);
  }
  const [, scheme, host, portText] = m;
  const out: ServiceName = { text: name, scheme, host };
  if (portText !== undefined) {
    const port = Number(portText);
    if (port > 65535) throw invalid(name, `port ${port} is out of range (1-65535)`);
    const standard = services.get(scheme);
    if (standard === port) {
      throw invalid(name, `port ${port} is the default port for ${scheme}, so it must not be given`, [`use ${scheme}://${host}`]);
    }
    out.port = port;
  }
  return out;
}
