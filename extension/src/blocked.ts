/**
 * The warning page a blocked load is redirected to: the web of trust vouches for another key
 * under the site's `https://` user ID. It explains, and lets the user go back or proceed
 * anyway (recorded for this site and this certificate only).
 */
import type { BlockedInfo } from './messages.js';
import { formatFingerprint } from './verdict.js';

function set(id: string, text: string): void {
  const e = document.getElementById(id);
  if (e) e.textContent = text;
}

async function main(): Promise<void> {
  const id = new URLSearchParams(location.search).get('id') ?? '';
  const info = await browser.runtime.sendMessage<BlockedInfo | null>({ type: 'blocked-info', id });
  if (!info) {
    set('host', 'this site');
    set('message', 'The details of this warning are gone (the extension was reloaded). Load the site again to check it again.');
    (document.getElementById('proceed') as HTMLButtonElement).disabled = true;
  } else {
    const v = info.verdict;
    set('host', v.host);
    set('userid', `https://${v.host}`);
    set('url', info.url);
    set('message', v.message);
    set('presented', v.sha256 ? formatFingerprint(v.sha256.toUpperCase()) : 'unknown');
    set('issuer', v.issuer ?? 'unknown');
    const ul = document.getElementById('certified') as HTMLElement;
    for (const f of v.certified) {
      const li = document.createElement('li');
      li.textContent = formatFingerprint(f);
      ul.append(li);
    }
    document.title = `Blocked: ${v.host}`;
  }
  document.getElementById('back')?.addEventListener('click', () => {
    if (history.length > 1) history.back();
    else location.replace('about:blank');
  });
  document.getElementById('proceed')?.addEventListener('click', async () => {
    const url = await browser.runtime.sendMessage<string | null>({ type: 'proceed', id });
    if (url) location.replace(url);
  });
  document.body.dataset.ready = 'true';
}

void main();
