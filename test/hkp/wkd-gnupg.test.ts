/**
 * GnuPG 2.2 as a WKD client of our keyserver: `gpg --locate-keys` fetches a key over https
 * from `openpgpkey.example.org` (advanced method) and from `example.org` (direct method), all
 * on loopback. HKP through dirmngr is gnupg.suite.ts; WKD's routes are http.test.ts.
 *
 * dirmngr 2.2.40 reaches https hosts through the `http-proxy` of its dirmngr.conf (CONNECT
 * host:443) but, for WKD, trusts only the system CAs. So gpg, and the dirmngr it starts, run in
 * a private mount namespace (`unshare`, as root) where a bundle holding only our test CA is
 * bind-mounted over /etc/ssl/certs/ca-certificates.crt, our own /etc/hosts decides whether
 * `openpgpkey.example.org` exists, and /etc/resolv.conf names 127.0.0.1 so no DNS query leaves
 * the machine. Nothing changes outside the namespace. Without root and unshare the test fails
 * (a missing tool is a failing test, docs/design: tests).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { wkdHash } from '../../src/hkp/wkd.js';
import { GpgHome, type GpgResult } from '../helpers/gpg.js';
import { NOW, TestServer } from './harness.js';

/** GnuTLS's system trust on Debian, which dirmngr loads for WKD ("system provided CAs"). */
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

/** A test CA (`ca.pem`) and a certificate for both WKD hosts signed by it (`server.pem`, `server.key`), valid around the real clock: dirmngr checks them at its own time, not gpg's frozen one. */
function makeCertificates(dir: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=monkeysphere WKD test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=openpgpkey.example.org'], dir);
  writeFileSync(join(dir, 'server.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:openpgpkey.example.org,DNS:example.org\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'server.ext'], dir);
}

/** What the namespace sees in place of the machine's files. */
interface View {
  bundle: string;
  hosts: string;
  resolv: string;
}

/** Runs gpg in a private mount namespace with `view` bind-mounted; the dirmngr it starts stays in that namespace. */
function gpgInNamespace(home: GpgHome, view: View, args: string[]): Promise<GpgResult> {
  const script = `mount --bind "$1" ${SYSTEM_BUNDLE} && mount --bind "$2" /etc/hosts && mount --bind "$3" /etc/resolv.conf && shift 3 && exec "$@"`;
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', view.bundle, view.hosts, view.resolv, 'gpg', '--homedir', home.dir, '--batch', '--no-tty', '--faked-system-time', `${home.now}!`, ...args],
      { env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (status) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ status: status ?? -1, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
  });
}

/** An HTTP request that came out of the TLS tunnel, with our server's status. */
interface Seen {
  host: string;
  path: string;
  status?: number;
}

/**
 * An http-proxy answering CONNECT for any host with a tunnel to a TLS terminator (the WKD
 * hosts' certificate), whose clear bytes go to our server as they are. One per GnuPG home, so
 * what a dirmngr still sends while it is killed lands in its own test's log.
 */
class Tunnel {
  /** `host:port` of each CONNECT, in order. */
  readonly connects: string[] = [];
  readonly requests: Seen[] = [];
  private readonly sockets = new Set<Socket>();
  private proxy?: Server;
  private tls?: TlsServer;

  /** The proxy's port, for `http-proxy`. */
  port = 0;

  /** The key lookups among the requests: after a failed lookup dirmngr also fetches the `policy` file in the background, whenever it gets to it. */
  lookups(): Seen[] {
    return this.requests.filter((r) => r.path.includes('/hu/'));
  }

  static async start(serverPort: number, tlsOptions: { key: Buffer; cert: Buffer }): Promise<Tunnel> {
    const t = new Tunnel();
    const track = (s: Socket): void => {
      t.sockets.add(s);
      s.on('close', () => t.sockets.delete(s));
    };
    const tls = createTlsServer(tlsOptions, (clear) => {
      const upstream = connect(serverPort, '127.0.0.1');
      track(clear);
      track(upstream);
      clear.once('data', (head: Buffer) => {
        const text = head.toString('latin1');
        const seen: Seen = { path: /^[A-Z]+ (\S+) /.exec(text)?.[1] ?? text, host: /\r\nHost: ([^\r]*)/i.exec(text)?.[1] ?? '' };
        t.requests.push(seen);
        upstream.once('data', (answer: Buffer) => {
          seen.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer.toString('latin1'))?.[1]);
        });
      });
      clear.pipe(upstream).pipe(clear);
      clear.on('error', () => upstream.destroy());
      upstream.on('error', () => clear.destroy());
    });
    // A client refusing our certificate is what one test wants.
    tls.on('tlsClientError', () => {});
    t.tls = tls;
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    const tlsPort = (tls.address() as { port: number }).port;

    const proxy = createServer((client) => {
      track(client);
      let head = '';
      const onData = (chunk: Buffer): void => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        client.off('data', onData);
        const m = /^CONNECT (\S+) HTTP\/1\.[01]\r\n/.exec(head);
        if (!m) {
          client.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n\r\n');
          return;
        }
        t.connects.push(m[1]);
        const upstream = connect(tlsPort, '127.0.0.1', () => {
          client.write('HTTP/1.1 200 Connection established\r\n\r\n');
          client.pipe(upstream).pipe(client);
        });
        track(upstream);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
      };
      client.on('data', onData);
      client.on('error', () => {});
    });
    t.proxy = proxy;
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    t.port = (proxy.address() as { port: number }).port;
    return t;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([this.proxy, this.tls].map((srv) => srv && new Promise((r) => srv.close(r))));
  }
}

describe('GnuPG 2.2 locates a key over WKD on our keyserver (https through a CONNECT proxy)', () => {
  let dir = '';
  let server: TestServer;
  let tlsOptions: { key: Buffer; cert: Buffer };
  let fpr = '';
  let trusted: View;
  let untrusted: View;
  let noSubdomain: View;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ms-wkd-gnupg-'));
    makeCertificates(dir);
    tlsOptions = { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) };
    writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n127.0.0.1 openpgpkey.example.org\n');
    writeFileSync(join(dir, 'hosts-no-subdomain'), '127.0.0.1 localhost\n');
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    const base = { hosts: join(dir, 'hosts'), resolv: join(dir, 'resolv.conf') };
    trusted = { ...base, bundle: join(dir, 'ca.pem') };
    untrusted = { ...base, bundle: SYSTEM_BUNDLE };
    noSubdomain = { ...trusted, hosts: join(dir, 'hosts-no-subdomain') };

    server = await TestServer.start();
    const maker = new GpgHome();
    try {
      maker.ok(['--quick-gen-key', 'User Example <user@example.org>', 'ed25519', 'default', '0']);
      fpr = maker.colons(['--list-keys', '=User Example <user@example.org>']).find((r) => r[0] === 'fpr')![9];
      maker.ok(['--quick-add-uid', fpr, 'User Elsewhere <user@elsewhere.example>']);
      const report = await server.ks.submit(maker.ok(['--export', fpr]).stdoutBytes, { now: NOW });
      assert.equal(report.certs[0]?.status, 'inserted');
    } finally {
      maker.cleanup();
    }
  });

  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh GnuPG home whose dirmngr uses its own tunnel and logs to dirmngr.log; after the test its dirmngr and gpg-agent are killed, then the tunnel closed. */
  async function wkdHome(t: TestContext): Promise<{ home: GpgHome; tunnel: Tunnel }> {
    const home = new GpgHome();
    let tunnel: Tunnel | undefined;
    t.after(async () => {
      home.cleanup();
      await tunnel?.close();
    });
    tunnel = await Tunnel.start(server.port, tlsOptions);
    writeFileSync(join(home.dir, 'dirmngr.conf'), `http-proxy http://127.0.0.1:${tunnel.port}\nverbose\nlog-file ${join(home.dir, 'dirmngr.log')}\n`);
    return { home, tunnel };
  }

  /** gpg's stderr and dirmngr's log, for assertion messages. */
  function why(home: GpgHome, r: GpgResult): string {
    const file = join(home.dir, 'dirmngr.log');
    const log = existsSync(file) ? readFileSync(file, 'utf8') : '(no dirmngr log)';
    return `gpg exit ${r.status}\n${r.stderr}\n--- dirmngr.log\n${log}`;
  }

  /** The user IDs of the keys in `home`, by fingerprint. */
  function keysIn(home: GpgHome): Map<string, string[]> {
    const rows = home.colons(['--list-keys']);
    const keys = new Map<string, string[]>();
    let current: string[] = [];
    for (let i = 0; i < rows.length; i++) {
      if (rows[i][0] === 'pub') {
        current = [];
        keys.set(rows[i + 1][9], current);
      } else if (rows[i][0] === 'uid') current.push(rows[i][9]);
    }
    return keys;
  }

  async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
    for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > end) assert.fail(`gave up waiting for ${what}`);
    }
  }

  const hu = wkdHash('user');

  test('gpg --locate-keys (auto-key-locate local,wkd by default) fetches the key from openpgpkey.example.org: the advanced method', async (t) => {
    const { home, tunnel } = await wkdHome(t);
    const r = await gpgInNamespace(home, trusted, ['--locate-keys', 'user@example.org']);
    assert.equal(r.status, 0, why(home, r));
    assert.match(r.stderr, /public key "User Example <user@example\.org>" imported/);
    assert.match(r.stdout, new RegExp(fpr));
    assert.deepEqual(new Set(tunnel.connects), new Set(['openpgpkey.example.org:443']));
    assert.deepEqual(tunnel.lookups(), [{ host: 'openpgpkey.example.org', path: `/.well-known/openpgpkey/example.org/hu/${hu}?l=user`, status: 200 }]);
    // Served cut to the address asked for: the other user ID never reached gpg.
    assert.deepEqual([...keysIn(home)], [[fpr, ['User Example <user@example.org>']]]);
  });

  test('without an openpgpkey subdomain, gpg --locate-external-keys --auto-key-locate clear,wkd asks example.org: the direct method', async (t) => {
    const { home, tunnel } = await wkdHome(t);
    const r = await gpgInNamespace(home, noSubdomain, ['--auto-key-locate', 'clear,wkd,nodefault', '--locate-external-keys', 'user@example.org']);
    assert.equal(r.status, 0, why(home, r));
    assert.match(r.stdout, new RegExp(fpr));
    assert.deepEqual(new Set(tunnel.connects), new Set(['example.org:443']));
    assert.deepEqual(tunnel.lookups(), [{ host: 'example.org', path: `/.well-known/openpgpkey/hu/${hu}?l=user`, status: 200 }]);
    assert.deepEqual([...keysIn(home)], [[fpr, ['User Example <user@example.org>']]]);
  });

  test('an address the server does not have: 404; gpg --locate-keys says No data and exits non-zero; dirmngr then reads the policy file', async (t) => {
    const { home, tunnel } = await wkdHome(t);
    const path = `/.well-known/openpgpkey/example.org/hu/${wkdHash('nobody')}?l=nobody`;
    const r = await gpgInNamespace(home, trusted, ['--locate-keys', 'nobody@example.org']);
    assert.equal(r.status, 2, why(home, r));
    assert.match(r.stderr, /error retrieving 'nobody@example\.org' via WKD: No data/, why(home, r));
    assert.deepEqual(tunnel.lookups(), [{ host: 'openpgpkey.example.org', path, status: 404 }]);
    // gpg 2.2.40's --locate-external-keys says the same but exits 0, listing nothing.
    const external = await gpgInNamespace(home, trusted, ['--auto-key-locate', 'clear,wkd,nodefault', '--locate-external-keys', 'nobody@example.org']);
    assert.match(external.stderr, /error retrieving 'nobody@example\.org' via WKD: No data/, why(home, external));
    assert.equal(external.status, 0, why(home, external));
    assert.equal(external.stdout, '');
    assert.deepEqual(tunnel.lookups(), [
      { host: 'openpgpkey.example.org', path, status: 404 },
      { host: 'openpgpkey.example.org', path, status: 404 },
    ]);
    assert.equal(keysIn(home).size, 0);
    // Whether the domain has a WKD at all: our (empty) policy file says it has.
    await until('the policy file', () => tunnel.requests.some((q) => q.path === '/.well-known/openpgpkey/example.org/policy' && q.status === 200));
    assert.deepEqual(new Set(tunnel.connects), new Set(['openpgpkey.example.org:443']));
  });

  test('the TLS certificate counts: with the system CAs instead of ours, dirmngr refuses it and asks nothing', async (t) => {
    const { home, tunnel } = await wkdHome(t);
    const r = await gpgInNamespace(home, untrusted, ['--auto-key-locate', 'clear,wkd,nodefault', '--locate-external-keys', 'user@example.org']);
    assert.match(r.stderr, /error retrieving 'user@example\.org' via WKD: General error/, why(home, r));
    assert.match(readFileSync(join(home.dir, 'dirmngr.log'), 'utf8'), /TLS verification of peer failed: The certificate is NOT trusted/);
    assert.deepEqual(new Set(tunnel.connects), new Set(['openpgpkey.example.org:443']));
    assert.deepEqual(tunnel.requests, []);
    assert.equal(keysIn(home).size, 0);
  });
});
