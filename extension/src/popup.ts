/**
 * The toolbar popup: the verdict for the tab's page in words (the agent's own message), the
 * certificate it was about, and the per-site settings. `popup.html?tab=ID` shows another
 * tab's (the tests open it so, as a page).
 */
import type { TabState } from './messages.js';
import { formatFingerprint, headline } from './verdict.js';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

async function tabId(): Promise<number | undefined> {
  const given = new URLSearchParams(location.search).get('tab');
  if (given !== null) return Number(given);
  const [tab] = await browser.tabs.query({ active: true, currentWindow: true });
  return tab?.id;
}

async function render(): Promise<void> {
  const root = document.getElementById('main') as HTMLElement;
  root.replaceChildren();
  const id = await tabId();
  const st: TabState = id === undefined ? { proceeded: [] } : await browser.runtime.sendMessage<TabState>({ type: 'tab-state', tabId: id });
  const v = st.verdict;
  const head = el('h1', undefined, `verdict ${v ? v.kind : 'none'}`);
  head.id = 'headline';
  if (v) head.textContent = headline(v.kind, v.proceeded);
  else if (st.notChecked === 'ignored') head.textContent = 'Not checked: this site is ignored';
  else if (st.notChecked === 'not-chosen') head.textContent = 'Not checked: only sites set to “always check” are';
  else head.textContent = 'Nothing to check: not an HTTPS page';
  root.append(head);
  if (st.host) {
    const who = el('p', undefined, 'peer');
    who.append('OpenPGP user ID: ', el('code', `https://${st.host}`));
    root.append(who);
  }
  if (v) {
    const msg = el('p', v.message || '(the agent gave no reason)', 'message');
    msg.id = 'message';
    root.append(msg);
    if (v.certified.length > 0) {
      root.append(el('p', 'The web of trust vouches for:'));
      const ul = el('ul');
      for (const f of v.certified) ul.append(el('li', formatFingerprint(f), 'fpr'));
      root.append(ul);
    }
    const dl = el('dl');
    const row = (k: string, val: string | undefined) => {
      if (!val) return;
      dl.append(el('dt', k), el('dd', val));
    };
    row('Certificate', v.subject);
    row('Issued by', v.issuer);
    row('SHA-256', v.sha256 && formatFingerprint(v.sha256.toUpperCase()));
    row('Asked', `${v.server ?? 'the validation agent'}, ${new Date(v.at).toLocaleTimeString()}`);
    root.append(dl);
  }
  if (st.host) {
    const host = st.host;
    const form = el('fieldset');
    form.append(el('legend', `Settings for ${host}`));
    const choices: [string, string][] = [
      ['', 'Check (answers reused for 5 minutes)'],
      ['always', 'Always check (on every load, even when only chosen sites are checked)'],
      ['ignore', 'Ignore this site (never ask the agent)'],
    ];
    for (const [value, label] of choices) {
      const input = el('input');
      input.type = 'radio';
      input.name = 'mode';
      input.value = value;
      input.checked = (st.mode ?? '') === value;
      input.addEventListener('change', async () => {
        await browser.runtime.sendMessage({ type: 'set-site', host, mode: value || null });
        await render();
      });
      const l = el('label');
      l.append(input, ` ${label}`);
      form.append(l);
    }
    if (st.proceeded.length > 0) {
      const b = el('button', `Forget “proceed anyway” for ${host}`);
      b.id = 'forget-proceed';
      b.addEventListener('click', async () => {
        await browser.runtime.sendMessage({ type: 'forget-proceed', host });
        await render();
      });
      form.append(b);
    }
    root.append(form);
  }
  const opts = el('a', 'Options: the agent’s address, which sites are checked');
  opts.href = '#';
  opts.addEventListener('click', (e) => {
    e.preventDefault();
    void browser.runtime.openOptionsPage();
  });
  const foot = el('p');
  foot.append(opts);
  root.append(foot);
  document.body.dataset.ready = 'true';
}

void render();
