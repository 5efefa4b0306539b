/** Runs monkeysphere-keyserver's main() as a process of its own (for serve and its signals), from the sources through tsx. */
import { main } from '../../src/cli/monkeysphere-keyserver.js';

process.exitCode = await main(process.argv.slice(2));
