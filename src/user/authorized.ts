/**
 * update-authorized_keys, the user-mode counterpart of monkeysphere-authentication's
 * update-users (behaviour inventory §2, "Files"): every line Monkeysphere wrote before (its
 * `MonkeySphere<date>` marker) goes, and so does any line with a key processed for a user ID
 * of ~/.monkeysphere/authorized_user_ids; then the acceptable keys are appended as
 * `[<options> ]<type> <base64> MonkeySphere<date> <user ID>`. Other lines stay as they are.
 */
import { authorizedKeysLine, monkeysphereMarker } from '../auth/authorized-keys.js';
import { parseAuthorizedUserIds } from '../auth/authorized-user-ids.js';
import { EnvironmentError } from '../errors.js';
import { keysOf } from './hosts.js';
import { editKeyFile, readOwnFile, touchKeyFile } from './key-files.js';
import type { UserTool } from './tool.js';

const MONKEYSPHERE_LINE = / MonkeySphere\d{4}(-\d\d){2}T\d\d(:\d\d){2} /;

export interface AuthorizedResult {
  processed: number;
  valid: number;
  changed: boolean;
}

/** The authorized_keys text with Monkeysphere's old lines and the processed keys' lines replaced by `added`. */
export function editAuthorizedKeys(text: string, processed: ReadonlySet<string>, added: readonly string[]): string {
  const kept = (text === '' ? [] : text.replace(/\n$/, '').split('\n')).filter((line) => {
    if (MONKEYSPHERE_LINE.test(line)) return false;
    for (const key of processed) if (line.includes(key)) return false;
    return true;
  });
  const lines = [...kept, ...added];
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export async function updateAuthorizedKeys(tool: UserTool, checkKeyserver: boolean): Promise<AuthorizedResult> {
  const { config, authorizedUserIds } = tool.settings;
  const readOpts = { strictModes: config.STRICT_MODES, home: tool.home };
  const uidsText = readOwnFile(authorizedUserIds, { ...readOpts, what: 'authorized_user_ids file' });
  if (uidsText === undefined || uidsText.length === 0) {
    throw new EnvironmentError('MS_USER_NO_AUTHORIZED_USER_IDS', 'empty or absent authorized_user_ids file.', {
      hints: [`list the OpenPGP user IDs allowed to log in, one per line, in ${authorizedUserIds}`],
    });
  }
  const parsed = parseAuthorizedUserIds(uidsText);
  for (const p of parsed.problems) tool.log.error(`${authorizedUserIds}:${p.line}: ${p.message}`);
  const path = config.AUTHORIZED_KEYS;
  const fileOpts = { ...readOpts, what: 'authorized_keys file' };
  touchKeyFile(path);
  readOwnFile(path, fileOpts);
  if (checkKeyserver) await tool.fetch(parsed.entries.map((e) => e.userId));
  const marker = monkeysphereMarker(tool.now);
  const processed = new Set<string>();
  const added: string[] = [];
  let valid = 0;
  for (const entry of parsed.entries) {
    tool.log.verbose(`processing: ${entry.userId}`);
    for (const k of keysOf(await tool.certsFor(entry.userId))) {
      processed.add(k.ssh);
      if (!k.ok) continue;
      valid++;
      added.push(authorizedKeysLine(k.ssh, marker, entry.userId, entry.options));
    }
  }
  const changed = await editKeyFile(path, fileOpts, (text) => editAuthorizedKeys(text, processed, added));
  if (changed) tool.log.verbose('authorized_keys file updated.');
  return { processed: processed.size, valid, changed };
}
