#!/usr/bin/env node
// pem2openpgp: runs dist/cli/pem2openpgp.js (compiled by `npm run build`). Kept minimal: no tsx, no
// other imports, because some commands (keys-for-user) sit on sshd's login path.
import { existsSync } from 'node:fs';

const target = new URL('../dist/cli/pem2openpgp.js', import.meta.url);
if (!existsSync(target)) {
  process.stderr.write('pem2openpgp: error: not built or not implemented yet\n');
  process.exit(70);
}
const { main } = await import(target.href);
process.exitCode = await main(process.argv.slice(2));
