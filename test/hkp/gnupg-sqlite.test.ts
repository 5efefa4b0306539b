/** GnuPG 2.2 against our keyserver on a SQLite store (gnupg.suite.ts). */
import { gnupgSuite } from './gnupg.suite.js';
import { TestServer } from './harness.js';

gnupgSuite('SQLite', () => TestServer.start());
