/**
 * The background page: for every HTTPS top-level response it reads the server's certificate
 * (webRequest.getSecurityInfo with rawDER, inside a blocking onHeadersReceived listener, the
 * only place Firefox gives it), asks the validation agent (`POST /reviewcert`), shows the
 * verdict on the toolbar for that tab, and redirects to the warning page when the web of
 * trust vouches for a different key. Subresources and frames are not checked.
 */
import type { BlockedInfo, Message, TabState, Verdict } from './messages.js';
import { type Settings, shouldCheck } from './settings.js';
import { loadSettings, updateSettings } from './storage.js';
import { classifyReply, headline, peerName, reviewRequest, WORDS } from './verdict.js';

/** How long an answer about one site's certificate is reused (sites set to `always` are asked every time). */
const CACHE_MS = 5 * 60 * 1000;
/** The agent may ask a keyserver (KEYSERVER_TIMEOUT); the page waits this long at most. */
const AGENT_TIMEOUT_MS = 20_000;

/** The page each tab shows (or is about to show), by tab ID. */
const tabs = new Map<number, TabState>();
/** Verdicts being loaded: set by onHeadersReceived, shown when the navigation commits (Firefox resets a tab's badge on navigation). */
const pending = new Map<number, TabState>();
/** Answers by host and certificate. */
const cache = new Map<string, { verdict: Verdict; until: number }>();
/** The latest verdict per host, for pages shown without a request (back/forward cache). */
const latest = new Map<string, Verdict>();
/** Blocked loads, by the id in the warning page's URL. */
const blocked = new Map<string, BlockedInfo>();

let settings: Promise<Settings> = loadSettings();
/** Reads the settings again and forgets cached answers (the agent or the modes may have changed). */
function reloadSettings(): Promise<Settings> {
  settings = loadSettings();
  cache.clear();
  return settings;
}
// Changes made elsewhere (another window's options page); our own pages also ask with `reload-settings`,
// so that the next load sees the change whatever order the events come in.
browser.storage.onChanged.addListener((_changes, area) => {
  if (area === 'local') void reloadSettings();
});

/** Maps that only grow with browsing keep their newest entries. */
const KEEP = 500;
function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > KEEP) map.delete(map.keys().next().value as K);
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function askAgent(agentUrl: string, host: string, der: number[], keyserver: Settings['keyserver']): Promise<ReturnType<typeof classifyReply>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), AGENT_TIMEOUT_MS);
  try {
    const res = await fetch(`${agentUrl}/reviewcert`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(reviewRequest(host, der, keyserver)),
      signal: controller.signal,
      credentials: 'omit',
      cache: 'no-store',
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = { message: text.trim().slice(0, 300) };
    }
    return classifyReply(res.status, body);
  } catch (err) {
    const why = controller.signal.aborted ? `no answer within ${AGENT_TIMEOUT_MS / 1000} s` : (err as Error).message;
    return { kind: 'error', message: `The validation agent at ${agentUrl} cannot be reached (${why}). Is it running? Start it with MSVA_PORT=8901 monkeysphere-validation-agent, or set its address in the options.`, certified: [] };
  } finally {
    clearTimeout(timer);
  }
}

async function show(tabId: number, state: TabState): Promise<void> {
  tabs.set(tabId, state);
  const v = state.verdict;
  const kind = v?.proceeded ? 'mismatch' : v?.kind;
  const icon = kind ?? 'none';
  let title = 'Monkeysphere: not an HTTPS page';
  if (state.notChecked === 'ignored') title = `Monkeysphere: ${state.host} is ignored (per-site setting)`;
  else if (state.notChecked === 'not-chosen') title = `Monkeysphere: ${state.host} is not checked (only chosen sites are)`;
  else if (v) title = `Monkeysphere: ${headline(v.kind, v.proceeded)}\n${v.message}`;
  try {
    await browser.browserAction.setIcon({ tabId, path: `icons/${icon}.svg` });
    await browser.browserAction.setBadgeText({ tabId, text: kind ? WORDS[kind].badge : '' });
    if (kind) await browser.browserAction.setBadgeBackgroundColor({ tabId, color: WORDS[kind].colour });
    await browser.browserAction.setTitle({ tabId, title });
  } catch {
    // The tab was closed meanwhile.
  }
}

async function stateFor(host: string): Promise<TabState> {
  const s = await settings;
  return { host, mode: s.sites[host], proceeded: s.proceed[host] ?? [] };
}

async function check(d: browser.webRequest.HeadersReceivedDetails): Promise<browser.webRequest.BlockingResponse> {
  const host = peerName(d.url);
  if (!host || d.tabId < 0) return {};
  const s = await settings;
  const base = await stateFor(host);
  if (!shouldCheck(s, host)) {
    pending.set(d.tabId, { ...base, notChecked: s.sites[host] === 'ignore' ? 'ignored' : 'not-chosen' });
    return {};
  }
  let verdict: Verdict;
  const info = await browser.webRequest.getSecurityInfo(d.requestId, { rawDER: true, certificateChain: false });
  const cert = info.certificates[0];
  const der = cert?.rawDER;
  const known = latest.get(host);
  if ((!cert || !der) && known) {
    // A response from Firefox's cache may come without its certificate: the host's latest verdict stands.
    verdict = { ...known, url: d.url };
  } else if (!cert || !der) {
    verdict = { kind: 'error', host, url: d.url, message: `Firefox gave no certificate for this page (connection state ${info.state}).`, certified: [], at: Date.now() };
  } else {
    const sha256 = hex(await crypto.subtle.digest('SHA-256', new Uint8Array(der)));
    const key = `${host} ${sha256}`;
    const hit = cache.get(key);
    if (hit && hit.until > Date.now() && s.sites[host] !== 'always') {
      verdict = { ...hit.verdict, url: d.url };
    } else {
      const answer = await askAgent(s.agentUrl, host, der, s.keyserver);
      verdict = { ...answer, host, url: d.url, sha256, subject: cert.subject, issuer: cert.issuer, at: Date.now() };
      if (answer.kind !== 'error') remember(cache, key, { verdict, until: Date.now() + CACHE_MS });
    }
    remember(latest, host, verdict);
    if (verdict.kind === 'mismatch') {
      if (base.proceeded.includes(sha256)) {
        verdict = { ...verdict, proceeded: true };
      } else {
        const id = crypto.randomUUID();
        remember(blocked, id, { url: d.url, verdict });
        const state = { ...base, verdict };
        pending.set(d.tabId, state);
        return { redirectUrl: browser.runtime.getURL(`blocked.html?id=${id}`) };
      }
    }
  }
  // Shown when the navigation commits (a response that never commits, a download say, changes nothing).
  pending.set(d.tabId, { ...base, verdict });
  return {};
}

browser.webRequest.onHeadersReceived.addListener(
  (d) =>
    check(d).catch((err: Error) => {
      // A failure here must not stop the page: it loads, and the toolbar says why nothing is known.
      const host = peerName(d.url) ?? '';
      const verdict: Verdict = { kind: 'error', host, url: d.url, message: `The check failed: ${err.message}`, certified: [], at: Date.now() };
      pending.set(d.tabId, { host, verdict, proceeded: [] });
      return {};
    }),
  { urls: ['https://*/*'], types: ['main_frame'] },
  ['blocking'],
);

const BLOCKED_PAGE = browser.runtime.getURL('blocked.html');

browser.webNavigation.onCommitted.addListener((d) => {
  if (d.frameId !== 0) return;
  const p = pending.get(d.tabId);
  pending.delete(d.tabId);
  const host = peerName(d.url);
  if (p && (p.host === host || d.url.startsWith(BLOCKED_PAGE))) {
    void show(d.tabId, p);
  } else if (host) {
    // Shown without a request we saw (back/forward cache): the latest verdict for the host.
    const v = latest.get(host);
    void stateFor(host).then((base) => show(d.tabId, v ? { ...base, verdict: v } : base));
  } else {
    void show(d.tabId, { proceeded: [] });
  }
});

// Firefox clears a tab's badge when its location changes; should that come after the commit, the
// finished load puts the verdict back.
browser.tabs.onUpdated.addListener((tabId, change, tab) => {
  if (change.status !== 'complete' || !tab.url) return;
  const st = tabs.get(tabId);
  if (st?.host && (peerName(tab.url) === st.host || tab.url.startsWith(BLOCKED_PAGE))) void show(tabId, st);
});

browser.tabs.onRemoved.addListener((tabId) => {
  tabs.delete(tabId);
  pending.delete(tabId);
});

async function testAgent(url: string): Promise<{ ok: boolean; text: string }> {
  try {
    const res = await fetch(`${url}/`, { credentials: 'omit', cache: 'no-store', signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { available?: boolean; server?: string };
    return body.available ? { ok: true, text: `${body.server ?? 'an agent'} answers at ${url}` } : { ok: false, text: `${url} answered, but not as a validation agent` };
  } catch (err) {
    return { ok: false, text: `no validation agent at ${url}: ${(err as Error).message}` };
  }
}

async function handle(m: Message): Promise<unknown> {
  switch (m.type) {
    case 'tab-state': {
      const st = tabs.get(m.tabId);
      if (!st?.host) return st ?? { proceeded: [] };
      // Per-site settings may have changed since the page loaded.
      return { ...st, ...(await stateFor(st.host)) };
    }
    case 'set-site':
      await updateSettings((s) => {
        if (m.mode) s.sites[m.host] = m.mode;
        else delete s.sites[m.host];
      });
      await reloadSettings();
      return true;
    case 'reload-settings':
      await reloadSettings();
      return true;
    case 'blocked-info':
      return blocked.get(m.id) ?? null;
    case 'proceed': {
      const b = blocked.get(m.id);
      const sha = b?.verdict.sha256;
      if (!b || !sha) return null;
      await updateSettings((s) => {
        s.proceed[b.verdict.host] = [...new Set([...(s.proceed[b.verdict.host] ?? []), sha])];
      });
      await reloadSettings();
      return b.url;
    }
    case 'forget-proceed':
      await updateSettings((s) => {
        delete s.proceed[m.host];
      });
      await reloadSettings();
      return true;
    case 'test-agent':
      return testAgent(m.url);
  }
}

browser.runtime.onMessage.addListener((m) => handle(m as Message));
