#!/usr/bin/env node
// monkeysphere: runs dist/cli/monkeysphere.js (compiled by `npm run build`). Kept minimal: no tsx, no
// other imports, because some commands (keys-for-user) sit on sshd's login path.
import { existsSync } from 'node:fs';

const target = new URL('../dist/cli/monkeysphere.js', import.meta.url);
if (!existsSync(target)) {
  process.stderr.write('monkeysphere: error: not built or not implemented yet\n');
  process.exit(70);
}
const { main } = await import(target.href);
process.exitCode = await main(process.argv.slice(2));
