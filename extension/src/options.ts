/** The options page: the agent's address, which sites are checked, and the per-site settings. */
import { parseAgentUrl } from './settings.js';
import { loadSettings, updateSettings } from './storage.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

async function render(): Promise<void> {
  const s = await loadSettings();
  $<HTMLInputElement>('agent').value = s.agentUrl;
  $<HTMLInputElement>('check-all').checked = s.checkAll;
  $<HTMLInputElement>('check-chosen').checked = !s.checkAll;
  $<HTMLInputElement>('keyserver-never').checked = s.keyserver === 'never';
  const list = $<HTMLElement>('sites');
  list.replaceChildren();
  const hosts = [...new Set([...Object.keys(s.sites), ...Object.keys(s.proceed)])].sort();
  if (hosts.length === 0) list.append(Object.assign(document.createElement('li'), { textContent: 'none yet (set them from the toolbar button, on the site)' }));
  for (const host of hosts) {
    const li = document.createElement('li');
    const parts = [s.sites[host] === 'ignore' ? 'ignored' : s.sites[host] === 'always' ? 'always checked' : '', s.proceed[host]?.length ? `proceeded despite a mismatch (${s.proceed[host].length} certificate${s.proceed[host].length > 1 ? 's' : ''})` : ''].filter(Boolean);
    const code = document.createElement('code');
    code.textContent = host;
    const b = document.createElement('button');
    b.textContent = 'Forget';
    b.addEventListener('click', async () => {
      await updateSettings((x) => {
        delete x.sites[host];
        delete x.proceed[host];
      });
      await browser.runtime.sendMessage({ type: 'reload-settings' });
      await render();
    });
    li.append(code, `: ${parts.join('; ')} `, b);
    list.append(li);
  }
}

$<HTMLFormElement>('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const parsed = parseAgentUrl($<HTMLInputElement>('agent').value);
  const status = $<HTMLElement>('status');
  if ('error' in parsed) {
    status.textContent = `Not saved: ${parsed.error}.`;
    return;
  }
  await updateSettings((s) => {
    s.agentUrl = parsed.url;
    s.checkAll = $<HTMLInputElement>('check-all').checked;
    s.keyserver = $<HTMLInputElement>('keyserver-never').checked ? 'never' : 'agent';
  });
  await browser.runtime.sendMessage({ type: 'reload-settings' });
  const t = await browser.runtime.sendMessage<{ ok: boolean; text: string }>({ type: 'test-agent', url: parsed.url });
  status.textContent = `Saved. ${t.text}.`;
  await render();
});

$<HTMLButtonElement>('test').addEventListener('click', async () => {
  const parsed = parseAgentUrl($<HTMLInputElement>('agent').value);
  const t = 'error' in parsed ? { text: parsed.error } : await browser.runtime.sendMessage<{ ok: boolean; text: string }>({ type: 'test-agent', url: parsed.url });
  $<HTMLElement>('status').textContent = `${t.text}.`;
});

void render().then(() => {
  document.body.dataset.ready = 'true';
});
