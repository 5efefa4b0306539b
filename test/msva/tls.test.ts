/**
 * A real TLS server on loopback whose key was published as the README says (an existing
 * X.509 certificate and key, as openssl writes them, through `monkeysphere-host import-key
 * --certificate`): the certificate it presents in the handshake (node:tls
 * getPeerCertificate(true).raw) validates through our agent when the web of trust says so,
 * and fails when the certification is missing or marginal, the key or the subkey is revoked,
 * or the peer name differs (port, case). gpg 2.2 at the reference time is the oracle. Also:
 * the published fingerprint is the same every time, and the same as pem2openpgp's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, createServer, type Server } from 'node:tls';
import { readCerts, writeCert } from '../../src/openpgp/cert.js';
import { ensureBuilt } from '../auth/harness.js';
import { Person } from '../auth/pki.js';
import { CREATED, certificateFor, makeTlsKey, MsvaWorld, NOW, publishTlsKey, query, type RunningAgent, startOurAgent, type TlsKey } from './world.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A TLS server on 127.0.0.1 with this key and certificate; its port. */
async function serve(tls: TlsKey, servers: Server[]): Promise<number> {
  const server = createServer({ key: tls.keyPem, cert: tls.certPem }, (socket) => socket.end('hello\n'));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** The server's certificate as the handshake presents it (DER). */
function presented(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // The X.509 chain is not what decides here: the web of trust is.
    const socket = connect({ host: '127.0.0.1', port, servername: 'www.example.org', rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate(true).raw;
      socket.end();
      resolve(raw);
    });
    socket.on('error', reject);
  });
}

const ok = (uid: string) => `Successfully validated "${uid}" through the OpenPGP Web of Trust.`;

describe('a TLS server published through monkeysphere-host, checked through the agent', () => {
  let world: MsvaWorld;
  let agent: RunningAgent;
  const servers: Server[] = [];
  const check = (peer: string, der: Buffer) => query('ours', agent.url, ['https', peer, 'x509der'], der);

  before(async () => {
    ensureBuilt();
    world = new MsvaWorld();
    world.ownertrust(world.alice, 5);
    agent = await startOurAgent(world.agentEnv());
  });
  after(async () => {
    for (const s of servers) s.close();
    await agent?.stop();
    world?.cleanup();
  });

  test('RSA, ECDSA P-256 and P-384, Ed25519 as openssl writes them: the fingerprint is the same every time, and pem2openpgp agrees', async () => {
    for (const alg of ['rsa', 'p256', 'p384', 'ed25519'] as const) {
      const tls = makeTlsKey(alg);
      world.tls.push(tls);
      const a = await publishTlsKey(tls, 'https://www.example.org');
      const b = await publishTlsKey(tls, 'https://www.example.org');
      world.hosts.push(a.host, b.host);
      assert.equal(a.cert.primary.fpr, b.cert.primary.fpr, alg);
      assert.equal(a.cert.primary.created, CREATED, `${alg}: the key's creation time is the certificate's notBefore`);
      const pem = spawnSync(process.execPath, [join(ROOT, 'bin', 'pem2openpgp.js'), 'https://www.example.org'], {
        input: tls.keyPem,
        env: { PATH: process.env.PATH, PEM2OPENPGP_KEY_TIMESTAMP: String(CREATED), PEM2OPENPGP_TIMESTAMP: String(NOW), PEM2OPENPGP_USAGE_FLAGS: 'authenticate' },
      });
      assert.equal(pem.status, 0, pem.stderr.toString());
      assert.equal(readCerts(pem.stdout).certs[0]?.primary.fpr, a.cert.primary.fpr, `${alg}: pem2openpgp with PEM2OPENPGP_KEY_TIMESTAMP`);
      // gpg reads the published certificate and shows the same fingerprint and creation time.
      const listing = world.gpg.ok(['--with-colons', '--fixed-list-mode', '--show-keys'], writeCert(a.cert)).stdout.split('\n').map((l) => l.split(':'));
      assert.equal(listing.find((f) => f[0] === 'pub')?.[5], String(CREATED), `${alg}: gpg's creation time`);
      assert.equal(listing.find((f) => f[0] === 'fpr')?.[9], a.cert.primary.fpr, `${alg}: gpg's fingerprint`);
    }
  });

  test('the presented certificate validates when the web of trust says so (RSA, ECDSA P-384, Ed25519)', async () => {
    for (const [alg, name] of [
      ['rsa', 'rsa.example.org'],
      ['p384', 'p384.example.org'],
      ['ed25519', 'ed.example.org'],
    ] as const) {
      const site = await world.site(alg, `https://${name}`);
      assert.equal(world.gpgValidity(site.cert.primary.fpr, `https://${name}`), 'f');
      const der = await presented(await serve(site.tls, servers));
      assert.deepEqual(der, site.tls.der);
      const r = check(name, der);
      assert.equal(r.status, 0, `${alg}: ${r.stdout}`);
      assert.equal(r.stdout, ok(`https://${name}`));
    }
  });

  test('fails when the peer name differs: another port, another case; a published port must be asked for', async () => {
    const site = await world.site('rsa', 'https://names.example.org');
    const der = await presented(await serve(site.tls, servers));
    assert.equal(check('names.example.org', der).status, 0);
    for (const peer of ['names.example.org:443', 'names.example.org:8443', 'Names.example.org', 'NAMES.EXAMPLE.ORG', 'other.example.org']) {
      const r = check(peer, der);
      assert.equal(r.status, 1, `${peer}: ${r.stdout}`);
      assert.match(r.stdout, new RegExp(`^Failed to validate "https://${peer.replace(/\./g, '\\.')}"`));
    }
    const withPort = await world.site('rsa', 'https://port.example.org:8443');
    const der2 = await presented(await serve(withPort.tls, servers));
    assert.equal(check('port.example.org:8443', der2).status, 0);
    assert.equal(check('port.example.org', der2).status, 1);
  });

  test('a refusal says which certificates the web of trust vouches for under that name (what a browser blocks on)', async () => {
    const site = await world.site('ed25519', 'https://vouched.example.org');
    const other = makeTlsKey('ed25519', 'vouched.example.org');
    world.tls.push(other);
    const review = async (name: string, der: Buffer) => {
      const res = await fetch(`${agent.url}/reviewcert`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ context: 'https', peer: { name, type: 'server' }, pkc: { type: 'x509der', data: [...der] } }),
      });
      assert.equal(res.status, 200);
      return (await res.json()) as { valid: boolean; certificates?: number; validCertificates?: string[] };
    };
    const good = await review('vouched.example.org', await presented(await serve(site.tls, servers)));
    assert.equal(good.valid, true);
    assert.equal(good.validCertificates, undefined, 'only refusals carry the members');
    const mismatch = await review('vouched.example.org', await presented(await serve(other, servers)));
    assert.deepEqual(mismatch, { ...mismatch, valid: false, certificates: 1, validCertificates: [site.cert.primary.fpr] });
    const unknown = await review('unknown.example.org', other.der);
    assert.deepEqual({ certificates: unknown.certificates, validCertificates: unknown.validCertificates }, { certificates: 0, validCertificates: [] });
    // Published but not certified: someone's claim, nothing to block on.
    await world.site('rsa', 'https://claim.example.org', []);
    const claimed = await review('claim.example.org', other.der);
    assert.equal(claimed.certificates, 1);
    assert.deepEqual(claimed.validCertificates, []);
  });

  test('fails when the certification is missing or only marginal, as gpg says', async () => {
    const none = await world.site('p384', 'https://none.example.org', []);
    assert.equal(world.gpgValidity(none.cert.primary.fpr, 'https://none.example.org'), '-');
    const r = check('none.example.org', await presented(await serve(none.tls, servers)));
    assert.equal(r.status, 1);
    assert.match(r.stdout, /not fully valid on 0x[0-9A-F]{40}: no path: the user ID carries no certifications\.$/);

    const dave = new Person(['Dave <dave@example.org>']);
    dave.certifiedBy(world.bob);
    world.import(dave.cert);
    world.people.push(dave);
    world.ownertrust(dave, 4);
    const marginal = await world.site('ed25519', 'https://marginal.example.org', [dave]);
    assert.equal(world.gpgValidity(marginal.cert.primary.fpr, 'https://marginal.example.org'), 'm');
    const m = check('marginal.example.org', await presented(await serve(marginal.tls, servers)));
    assert.equal(m.status, 1);
    assert.match(m.stdout, /only 1 of 3 marginal introducers\.$/);
  });

  test('fails when the key is revoked (monkeysphere-host revoke-key, imported)', async () => {
    const site = await world.site('p256', 'https://gone.example.org');
    const der = await presented(await serve(site.tls, servers));
    assert.equal(check('gone.example.org', der).status, 0);
    await world.revokeSite(site.host, site.cert.primary.fpr);
    assert.equal(world.gpgValidity(site.cert.primary.fpr, 'https://gone.example.org'), 'r');
    const r = check('gone.example.org', der);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /The matching key 0x[0-9A-F]{40} is revoked\.$/);
  });

  test('fails when the TLS key is a subkey and the subkey is revoked', async () => {
    const person = new Person(['https://subkey.example.org'], { alg: 'rsa' });
    person.certifiedBy(world.alice);
    world.import(person.cert);
    world.people.push(person);
    const tls = certificateFor(person.authKey);
    world.tls.push(tls);
    const der = await presented(await serve(tls, servers));
    assert.equal(check('subkey.example.org', der).status, 0);
    world.import(person.revokeSubkey(CREATED + 86400 * 2));
    world.gpg.ok(['--check-trustdb']);
    assert.equal(world.gpg.colons(['--list-keys', person.fpr]).find((f) => f[0] === 'sub')?.[1], 'r');
    const r = check('subkey.example.org', der);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, `Failed to validate "https://subkey.example.org" through the OpenPGP Web of Trust. The matching subkey 0x${person.authPacket.fpr} is revoked.`);
  });
});
