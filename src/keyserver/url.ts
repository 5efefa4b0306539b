/**
 * Keyserver addresses as GnuPG and Monkeysphere's KEYSERVER setting write them:
 * `hkp://`, `hkps://`, `http://`, `https://` or a bare host (meaning hkp). Parsing
 * only; no DNS or SRV lookups (GnuPG's `_pgpkey-https._tcp` SRV step is not done).
 */
import { UsageError } from '../errors.js';

/**
 * The keyserver used when none is configured.
 *
 * keyserver.ubuntu.com (Hockeypuck) keeps third-party certifications and non-e-mail
 * user IDs such as `ssh://host.example.org`, which is exactly what Monkeysphere looks
 * up. keys.openpgp.org strips both (it publishes only e-mail-verified user IDs and no
 * unattested certifications), so web-of-trust paths cannot be found there. The
 * original's default, pool.sks-keyservers.net, has not resolved since 2021.
 */
export const DEFAULT_KEYSERVER = 'hkps://keyserver.ubuntu.com';

export type KeyserverScheme = 'hkp' | 'hkps' | 'http' | 'https';

export interface KeyserverUrl {
  /** The scheme as configured (`x-hkp` is read as `hkp`). */
  scheme: KeyserverScheme;
  /** Host name or IP address; IPv6 literals without brackets. */
  host: string;
  port: number;
  /** Whether requests use TLS (hkps and https). */
  tls: boolean;
  /** The HTTP origin requests go to, e.g. `http://127.0.0.1:11371` or `https://keyserver.ubuntu.com`. */
  origin: string;
  /** Canonical text for messages, e.g. `hkp://127.0.0.1:11371`. */
  text: string;
}

const DEFAULT_PORTS: Record<KeyserverScheme, number> = { hkp: 11371, hkps: 443, http: 80, https: 443 };

/**
 * Parses one keyserver address. A bare `host` or `host:port` means hkp. Only the root
 * path is accepted: HKP paths are fixed (`/pks/lookup`, `/pks/add`).
 * @throws UsageError (MS_KEYSERVER_URL) naming the address for any other scheme
 *   (ldap://, finger://), credentials, a path, a query, or a bad port.
 */
export function parseKeyserverUrl(input: string): KeyserverUrl {
  const text = input.trim();
  const bad = (why: string, hints: string[] = []) =>
    new UsageError('MS_KEYSERVER_URL', `invalid keyserver ${JSON.stringify(input)}: ${why}`, {
      data: { url: input },
      hints: hints.length > 0 ? hints : ['use hkp://HOST[:PORT], hkps://HOST[:PORT], http(s)://HOST[:PORT] or a bare host name'],
    });
  if (text === '') throw bad('empty address');
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  const given = schemeMatch ? schemeMatch[1].toLowerCase() : 'hkp';
  const scheme = given === 'x-hkp' ? 'hkp' : given;
  if (!(scheme in DEFAULT_PORTS)) throw bad(`unsupported scheme "${given}"`);
  const rest = (schemeMatch ? text.slice(schemeMatch[0].length) : text).replace(/\/$/, '');
  if (/[@]/.test(rest)) throw bad('credentials are not supported');
  if (/[/?#]/.test(rest)) throw bad('a keyserver address has no path or query');
  const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d*))?$/.exec(rest) ?? /^([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?)(?::(\d*))?$/.exec(rest);
  if (!m) throw bad('not a host name');
  const portText = m[2];
  if (portText === '') throw bad('empty port');
  const port = portText === undefined ? DEFAULT_PORTS[scheme as KeyserverScheme] : Number(portText);
  if (port < 1 || port > 65535) throw bad(`port ${portText} is out of range`);

  const s = scheme as KeyserverScheme;
  const tls = s === 'hkps' || s === 'https';
  const host = m[1].toLowerCase();
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    scheme: s,
    host,
    port,
    tls,
    origin: `${tls ? 'https' : 'http'}://${hostPart}${port === (tls ? 443 : 80) ? '' : `:${port}`}`,
    text: `${s}://${hostPart}${port === DEFAULT_PORTS[s] ? '' : `:${port}`}`,
  };
}
