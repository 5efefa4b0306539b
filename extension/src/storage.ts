/** Reading and writing the settings in `browser.storage.local` (one key, `settings`). */
import { normaliseSettings, type Settings } from './settings.js';

export async function loadSettings(): Promise<Settings> {
  const got = await browser.storage.local.get('settings');
  return normaliseSettings(got.settings);
}

export async function saveSettings(s: Settings): Promise<void> {
  await browser.storage.local.set({ settings: s });
}

/** Applies `change` to the stored settings and stores the result. */
export async function updateSettings(change: (s: Settings) => void): Promise<Settings> {
  const s = await loadSettings();
  change(s);
  await saveSettings(s);
  return s;
}
