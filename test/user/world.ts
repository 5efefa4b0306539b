/**
 * The seed's world for the user tool's tests ("THE MONKEYSPHERE"): Bob's GnuPG home, in
 * which Bob's own key is ultimately trusted and Alice, whom Bob certified, has the
 * ownertrust a test chooses; a host whose OpenPGP certificate is made from its real ssh
 * host key with `ssh://host[:port]` user IDs, certified (or not) by Alice. The GnuPG home is
 * real (gpg imports the certificates and ownertrust) and serves as the oracle: gpg's own
 * listing at the same reference time must agree with what the tool decides.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cert } from '../../src/openpgp/cert.js';
import { writeCert } from '../../src/openpgp/cert.js';
import { parsePrivateKey } from '../../src/ssh/private-key.js';
import { NOW, Person } from '../auth/pki.js';
import { GpgHome } from '../helpers/gpg.js';

export { NOW };

const ROOT = new URL('../../', import.meta.url).pathname;
/** The compiled command, as ssh runs it. */
export const MONKEYSPHERE = join(ROOT, 'bin', 'monkeysphere.js');

export class World {
  readonly gpg = new GpgHome(NOW);
  readonly home = mkdtempSync(join(tmpdir(), 'ms-user-home-'));
  readonly bob = new Person(['Bob <bob@example.org>']);
  readonly alice = new Person(['Alice <alice@example.org>']);
  readonly people: Person[] = [];

  constructor() {
    mkdirSync(join(this.home, '.ssh'), { mode: 0o700 });
    this.alice.certifiedBy(this.bob);
    this.import(this.bob.cert, this.alice.cert);
    this.ownertrust(this.bob, 6);
  }

  /** A host whose certificate is its ssh host key (the primary, authentication-capable) with these service names. */
  host(hostKeyFile: string, userIds: string[]): Person {
    const key = parsePrivateKey(readFileSync(hostKeyFile)).privateKey;
    const host = new Person([...userIds], { key, authSubkey: false });
    this.people.push(host);
    return host;
  }

  /** gpg --import of these certificates into Bob's home. */
  import(...certs: Cert[]): void {
    this.gpg.ok(['--import'], Buffer.concat(certs.map((c) => writeCert(c))));
  }

  /** Sets Bob's ownertrust in `who` (6 ultimate, 5 full, 4 marginal, 3 never, 128 | x disabled). */
  ownertrust(who: Person, value: number): void {
    this.gpg.ok(['--import-ownertrust'], `${who.fpr}:${value}:\n`);
    this.gpg.ok(['--check-trustdb']);
  }

  /** gpg's validity letter for `userId` on the certificate `fpr` (the oracle). */
  gpgValidity(fpr: string, userId: string): string | undefined {
    this.gpg.ok(['--check-trustdb']);
    let inKey = false;
    for (const f of this.gpg.colons(['--list-keys', fpr])) {
      if (f[0] === 'pub') inKey = true;
      if (inKey && f[0] === 'uid' && f[9].replace(/\\x3a/g, ':') === userId) return f[1];
    }
    return undefined;
  }

  /** The environment the tool runs in as Bob: his home, his GnuPG home, a fixed reference time, no keyserver. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: this.home,
      GNUPGHOME: this.gpg.dir,
      XDG_CACHE_HOME: join(this.home, '.cache'),
      MONKEYSPHERE_TEST_NOW: String(NOW),
      MONKEYSPHERE_CHECK_KEYSERVER: 'false',
      LC_ALL: 'C',
      ...extra,
    };
  }

  get knownHosts(): string {
    return join(this.home, '.ssh', 'known_hosts');
  }

  cleanup(): void {
    this.gpg.cleanup();
    for (const p of [this.bob, this.alice, ...this.people]) p.cleanup();
    rmSync(this.home, { recursive: true, force: true });
  }
}

/** Runs the built `monkeysphere` as a process (as ssh or cron would). */
export function runMonkeysphere(args: string[], env: NodeJS.ProcessEnv, input?: string) {
  const r = spawnSync(process.execPath, [MONKEYSPHERE, ...args], { env, input, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
