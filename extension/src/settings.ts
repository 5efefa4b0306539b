/**
 * The extension's settings as kept in `browser.storage.local`: the agent's address, whether
 * every HTTPS site is checked, per-site modes (ignore, always check) and the certificates the
 * user chose to proceed to despite a mismatch. Pure: normalising and deciding only; the
 * storage calls are in storage.ts.
 */

/** msva-perl's clients' default (Crypt::Monkeysphere::MSVA::Client, msva-query-agent). */
export const DEFAULT_AGENT_URL = 'http://127.0.0.1:8901';

/** `ignore`: never asked about, no verdict; `always`: asked on every load (never from the cache), even when only chosen sites are checked. */
export type SiteMode = 'ignore' | 'always';

export interface Settings {
  agentUrl: string;
  /** true: every HTTPS page is checked (default); false: only sites set to `always`. */
  checkAll: boolean;
  /** `agent`: the agent's keyserver policy applies (msva's default asks the keyserver about sites nothing local validates); `never`: each request says keyserverpolicy never, so no site is looked up. */
  keyserver: 'agent' | 'never';
  /** By peer name (host[:port]). */
  sites: Record<string, SiteMode>;
  /** By peer name: SHA-256 (hex) of the certificates the user proceeded to despite a mismatch. */
  proceed: Record<string, string[]>;
}

export function defaultSettings(): Settings {
  return { agentUrl: DEFAULT_AGENT_URL, checkAll: true, keyserver: 'agent', sites: {}, proceed: {} };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks an agent address: plain HTTP on the loopback, as the agent listens (each request
 * names a site the user visits, so it must not leave the machine).
 * @returns the normalised address (no trailing slash), or an error in words.
 */
export function parseAgentUrl(text: string): { url: string } | { error: string } {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return { error: `not a URL: ${JSON.stringify(text)}` };
  }
  if (u.protocol !== 'http:') return { error: 'the agent speaks plain HTTP on the loopback: the address starts with http://' };
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return { error: `the agent listens on the loopback only (127.0.0.1, localhost or [::1]), not on ${u.hostname}` };
  if (u.pathname !== '/' || u.search || u.hash || u.username || u.password) return { error: 'give the address only, as in http://127.0.0.1:8901' };
  return { url: `${u.protocol}//${u.host}` };
}

/** Settings from whatever storage holds (missing or damaged members get their defaults). */
export function normaliseSettings(raw: unknown): Settings {
  const s = defaultSettings();
  if (!isObject(raw)) return s;
  if (typeof raw.agentUrl === 'string') {
    const parsed = parseAgentUrl(raw.agentUrl);
    if ('url' in parsed) s.agentUrl = parsed.url;
  }
  if (typeof raw.checkAll === 'boolean') s.checkAll = raw.checkAll;
  if (raw.keyserver === 'never') s.keyserver = 'never';
  if (isObject(raw.sites)) {
    for (const [host, mode] of Object.entries(raw.sites)) if (mode === 'ignore' || mode === 'always') s.sites[host] = mode;
  }
  if (isObject(raw.proceed)) {
    for (const [host, list] of Object.entries(raw.proceed)) {
      if (Array.isArray(list)) s.proceed[host] = list.filter((h): h is string => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h));
    }
  }
  return s;
}

/** Whether the agent is asked about `host` under these settings. */
export function shouldCheck(s: Settings, host: string): boolean {
  const mode = s.sites[host];
  if (mode === 'ignore') return false;
  return mode === 'always' || s.checkAll;
}
