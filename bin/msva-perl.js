#!/usr/bin/env node
// msva-perl: runs what `npm run build` made, preferring the one-file bundle
// (dist/bundle/msva-perl.cjs, started with its V8 code cache by dist/bundle/launch.cjs)
// unless dist/cli/msva-perl.js is newer or alone. CommonJS (bin/package.json) and
// minimal: some commands sit on sshd's login path.
'use strict';
const { statSync } = require('node:fs');

const bundle = `${__dirname}/../dist/bundle/msva-perl.cjs`;
const target = `${__dirname}/../dist/cli/msva-perl.js`;
const b = statSync(bundle, { throwIfNoEntry: false });
const t = statSync(target, { throwIfNoEntry: false });
if (b && !(t && t.mtimeMs > b.mtimeMs)) {
  require(`${__dirname}/../dist/bundle/launch.cjs`).launch(bundle);
} else if (t) {
  import(require('node:url').pathToFileURL(target).href).then(async ({ main }) => {
    process.exitCode = await main(process.argv.slice(2));
  });
} else {
  process.stderr.write('msva-perl: error: not built or not implemented yet\n');
  process.exit(70);
}
