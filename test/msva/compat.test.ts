/**
 * Our validation agent next to Debian's msva-perl 0.9.2, on the same GnuPG home (Bob's),
 * each asked by both clients (our msva-query-agent and Debian's): the answers agree wherever
 * the original is right (valid, not certified, marginal, revoked, the user ID built from
 * the peer: port, case, client peers; the carriers; the PGP X.509 extension), and each
 * deliberate difference has its own test (non-RSA keys, a revoked or expired subkey,
 * request errors as 4xx). gpg 2.2 at the reference time is the oracle for the bindings.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signV4, sp } from '../../src/openpgp/build.js';
import { writeCert } from '../../src/openpgp/cert.js';
import { KeyFlag, SigType } from '../../src/openpgp/signature.js';
import { sshLineFromKeyPacket } from '../../src/ssh/openpgp.js';
import { CREATED, Person } from '../auth/pki.js';
import { ensureBuilt } from '../auth/harness.js';
import { certificateFor, MsvaWorld, query, type RunningAgent, startOriginalAgent, startOurAgent } from './world.js';

const ok = (uid: string) => `Successfully validated "${uid}" through the OpenPGP Web of Trust.`;
const failed = (uid: string) => `Failed to validate "${uid}" through the OpenPGP Web of Trust.`;

let world: MsvaWorld;
let ours: RunningAgent;
let orig: RunningAgent;
const agents = () => [
  { name: 'our agent', agent: ours },
  { name: 'msva-perl', agent: orig },
];
const CLIENTS = ['ours', 'original'] as const;

/** The same question to both agents through both clients: [client, agent, result]. */
function askAll(args: string[], stdin?: string | Buffer) {
  const out: Array<{ client: string; agent: string; status: number | null; stdout: string; stderr: string }> = [];
  for (const { name, agent } of agents()) for (const client of CLIENTS) out.push({ client, agent: name, ...query(client, agent.url, args, stdin) });
  return out;
}

function assertAll(results: ReturnType<typeof askAll>, status: number, message: (r: (typeof results)[number]) => string | RegExp) {
  for (const r of results) {
    const m = message(r);
    const where = `${r.client} client → ${r.agent}: ${r.status} ${JSON.stringify(r.stdout)} ${r.stderr.slice(-300)}`;
    assert.equal(r.status, status, where);
    if (typeof m === 'string') assert.equal(r.stdout, m, where);
    else assert.match(r.stdout, m, where);
  }
}

/** The site's key is the primary; its https user ID's validity as gpg lists it (the oracle). */
function oracle(fpr: string, uid: string): string | undefined {
  return world.gpgValidity(fpr, uid);
}

describe('msva-perl and our agent on the same GnuPG home', () => {
  let rsa: Awaited<ReturnType<MsvaWorld['site']>>;

  before(async () => {
    ensureBuilt();
    world = new MsvaWorld();
    world.ownertrust(world.alice, 5);
    rsa = await world.site('rsa', 'https://www.example.org');
    ours = await startOurAgent(world.agentEnv());
    orig = await startOriginalAgent(world.agentEnv());
  });
  after(async () => {
    await ours?.stop();
    await orig?.stop();
    world?.cleanup();
  });

  test('GET / and --version: each agent names itself', () => {
    assert.equal(query('original', orig.url, ['--version']).stdout, 'MSVA-Perl 0.9.2\n');
    for (const client of CLIENTS) assert.match(query(client, ours.url, ['--version']).stdout, /^MSVA-Monkeysphere \d+\.\d+\.\d+\n$/);
    assert.equal(query('ours', orig.url, ['--version']).stdout, 'MSVA-Perl 0.9.2\n');
  });

  test('a site certified by a fully trusted introducer validates, as DER and as PEM, in all four pairings', () => {
    assert.equal(oracle(rsa.cert.primary.fpr, 'https://www.example.org'), 'f');
    assertAll(askAll(['https', 'www.example.org', 'x509der'], rsa.tls.der), 0, () => ok('https://www.example.org'));
    assertAll(askAll(['https', 'www.example.org', 'x509pem'], rsa.tls.certPem), 0, () => ok('https://www.example.org'));
    assertAll(askAll(['https', 'www.example.org', 'x509pem', 'server'], rsa.tls.certPem), 0, () => ok('https://www.example.org'));
  });

  test('the user ID is built from context and peer as the original builds it: port, case and client peers fail', () => {
    for (const [args, uid] of [
      [['https', 'www.example.org:8443', 'x509der'], 'https://www.example.org:8443'],
      [['https', 'WWW.example.org', 'x509der'], 'https://WWW.example.org'],
      [['https', 'www.example.org', 'x509der', 'client'], 'www.example.org'],
      [['imaps', 'www.example.org', 'x509der'], 'imaps://www.example.org'],
    ] as const) {
      assertAll(askAll([...args], rsa.tls.der), 1, (r) => (r.agent === 'msva-perl' ? failed(uid) : new RegExp(`^${failed(uid).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} No OpenPGP certificate`)));
    }
    // An smtp client is a server too: its user ID keeps the prefix.
    assertAll(askAll(['smtp', 'www.example.org', 'x509der', 'client'], rsa.tls.der), 1, () => /^Failed to validate "smtp:\/\/www\.example\.org"/);
  });

  test('the other carriers: openpgp4fpr (argument), opensshpubkey and rfc4716 (stdin) agree', () => {
    const fpr = rsa.cert.primary.fpr;
    assertAll(askAll(['https', 'www.example.org', 'openpgp4fpr', 'server', fpr]), 0, () => ok('https://www.example.org'));
    assertAll(askAll(['https', 'www.example.org', 'openpgp4fpr', 'server', `0x${fpr.toLowerCase()}`]), 0, () => ok('https://www.example.org'));
    const ssh = sshLineFromKeyPacket(rsa.cert.primary);
    assertAll(askAll(['https', 'www.example.org', 'opensshpubkey'], `${ssh} comment\n`), 0, () => ok('https://www.example.org'));
    const dir = mkdtempSync(join(tmpdir(), 'ms-rfc4716-'));
    try {
      writeFileSync(join(dir, 'k.pub'), `${ssh}\n`);
      const rfc = spawnSync('ssh-keygen', ['-e', '-m', 'RFC4716', '-f', join(dir, 'k.pub')], { encoding: 'utf8' }).stdout;
      assert.match(rfc, /^---- BEGIN SSH2 PUBLIC KEY ----/);
      assertAll(askAll(['https', 'www.example.org', 'rfc4716'], rfc), 0, () => ok('https://www.example.org'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the PGP X.509 extension: the right creation time validates, a wrong one names another key', () => {
    const ext = (when: string) => `1.3.6.1.4.1.3401.8.1.1=DER:3014020100180f${Buffer.from(`${when}Z`).toString('hex')}`;
    const reissue = (when: string) => {
      const out = join(rsa.tls.dir, `ext-${when}.pem`);
      const r = spawnSync('openssl', ['req', '-x509', '-key', rsa.tls.keyFile, '-out', out, '-subj', '/CN=www.example.org', '-days', '30', '-addext', ext(when)]);
      assert.equal(r.status, 0, r.stderr.toString());
      return readFileSync(out, 'utf8');
    };
    const created = new Date(CREATED * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
    assertAll(askAll(['https', 'www.example.org', 'x509pem'], reissue(created)), 0, () => ok('https://www.example.org'));
    assertAll(askAll(['https', 'www.example.org', 'x509pem'], reissue('20200101000000')), 1, (r) =>
      r.agent === 'msva-perl' ? failed('https://www.example.org') : /does not hold this key \(OpenPGP fingerprint [0-9A-F]{40}\)\.$/,
    );
  });

  test('not certified, certified only by a marginal introducer, revoked: refused by both, as gpg says', async () => {
    const plain = await world.site('rsa', 'https://plain.example.org', []);
    assert.equal(oracle(plain.cert.primary.fpr, 'https://plain.example.org'), '-');
    assertAll(askAll(['https', 'plain.example.org', 'x509der'], plain.tls.der), 1, (r) =>
      r.agent === 'msva-perl' ? failed('https://plain.example.org') : /The user ID is not fully valid on 0x[0-9A-F]{40}: no path: the user ID carries no certifications\.$/,
    );

    world.ownertrust(world.alice, 4);
    try {
      assert.equal(oracle(rsa.cert.primary.fpr, 'https://www.example.org'), 'm');
      assertAll(askAll(['https', 'www.example.org', 'x509der'], rsa.tls.der), 1, (r) =>
        r.agent === 'msva-perl' ? failed('https://www.example.org') : /not fully valid on 0x[0-9A-F]{40}: only 1 of 3 marginal introducers\.$/,
      );
    } finally {
      world.ownertrust(world.alice, 5);
    }

    const gone = await world.site('rsa', 'https://revoked.example.org');
    assertAll(askAll(['https', 'revoked.example.org', 'x509der'], gone.tls.der), 0, () => ok('https://revoked.example.org'));
    await world.revokeSite(gone.host, gone.cert.primary.fpr);
    assert.equal(oracle(gone.cert.primary.fpr, 'https://revoked.example.org'), 'r');
    assertAll(askAll(['https', 'revoked.example.org', 'x509der'], gone.tls.der), 1, (r) =>
      r.agent === 'msva-perl' ? failed('https://revoked.example.org') : /Failed to validate "https:\/\/revoked\.example\.org" through the OpenPGP Web of Trust\. The matching key 0x[0-9A-F]{40} is revoked\.$/,
    );
  });

  test('deliberate difference: Ed25519 and ECDSA keys validate with us; msva-perl knows RSA only', async () => {
    for (const [alg, name] of [
      ['ed25519', 'ed.example.org'],
      ['p256', 'p256.example.org'],
      ['p384', 'p384.example.org'],
    ] as const) {
      const site = await world.site(alg, `https://${name}`);
      assert.equal(oracle(site.cert.primary.fpr, `https://${name}`), 'f');
      for (const client of CLIENTS) {
        const r = query(client, ours.url, ['https', name, 'x509der'], site.tls.der);
        assert.equal(r.status, 0, `${alg} ${client}: ${r.stdout}`);
        assert.equal(r.stdout, ok(`https://${name}`));
        const o = query(client, orig.url, ['https', name, 'x509der'], site.tls.der);
        assert.equal(o.status, 1, `${alg} ${client} → msva-perl: ${o.stdout}`);
        assert.match(o.stdout, /MSVA\.pl only supports RSA/);
      }
      // openpgp4fpr does not look at the key: msva-perl finds these too.
      assertAll(askAll(['https', name, 'openpgp4fpr', 'server', site.cert.primary.fpr]), 0, () => ok(`https://${name}`));
    }
  });

  /** A person-made certificate whose TLS key is an RSA authentication subkey. */
  function subkeySite(uid: string): { person: Person; tls: ReturnType<typeof certificateFor> } {
    const person = new Person([uid], { alg: 'rsa' });
    person.certifiedBy(world.alice);
    world.import(person.cert);
    world.gpg.ok(['--check-trustdb']);
    const tls = certificateFor(person.authKey);
    world.tls.push(tls);
    world.people.push(person);
    return { person, tls };
  }

  test('deliberate difference: a revoked subkey is refused by us; msva-perl ignores subkey revocation', () => {
    const { person, tls } = subkeySite('https://sub.example.org');
    assertAll(askAll(['https', 'sub.example.org', 'x509der'], tls.der), 0, () => ok('https://sub.example.org'));
    world.import(person.revokeSubkey(CREATED + 7 * 86400));
    world.gpg.ok(['--check-trustdb']);
    const sub = world.gpg.colons(['--list-keys', person.fpr]).find((f) => f[0] === 'sub');
    assert.equal(sub?.[1], 'r', 'gpg lists the subkey as revoked');
    for (const client of CLIENTS) {
      const r = query(client, ours.url, ['https', 'sub.example.org', 'x509der'], tls.der);
      assert.equal(r.status, 1, r.stdout);
      assert.equal(r.stdout, `${failed('https://sub.example.org')} The matching subkey 0x${person.authPacket.fpr} is revoked.`);
      assert.equal(query(client, orig.url, ['https', 'sub.example.org', 'x509der'], tls.der).status, 0);
    }
  });

  test('deliberate difference: an expired subkey is refused by us; msva-perl ignores subkey expiry', () => {
    const { person, tls } = subkeySite('https://expired.example.org');
    // A newer binding that makes the subkey expire 30 days after its creation (long before the reference time).
    const bind = signV4(
      { kind: 'subkey', primary: person.primary, subkey: person.authPacket },
      {
        type: SigType.SubkeyBinding,
        signer: person.primary,
        privateKey: person.privateKey,
        hashed: [sp.created(CREATED + 3600), sp.issuerFingerprint(person.primary), sp.keyFlags(KeyFlag.Authenticate), sp.keyExpiresAfter(30 * 86400)],
      },
    );
    world.gpg.ok(['--import'], Buffer.concat([writeCert(person.cert), bind.packet.raw]));
    world.gpg.ok(['--check-trustdb']);
    const sub = world.gpg.colons(['--list-keys', person.fpr]).find((f) => f[0] === 'sub');
    assert.equal(sub?.[1], 'e', 'gpg lists the subkey as expired');
    for (const client of CLIENTS) {
      const r = query(client, ours.url, ['https', 'expired.example.org', 'x509der'], tls.der);
      assert.equal(r.status, 1, r.stdout);
      assert.equal(r.stdout, `${failed('https://expired.example.org')} The matching subkey 0x${person.authPacket.fpr} has expired.`);
      assert.equal(query(client, orig.url, ['https', 'expired.example.org', 'x509der'], tls.der).status, 0);
    }
  });

  test('both refuse a key that is not authentication-capable; only ours says why', () => {
    // Carol's RSA primary key (certify+sign; her authentication key is a subkey), validly certified, as an ssh key: found, but not for authentication.
    const carol = new Person(['Carol <carol@example.org>'], { alg: 'rsa' });
    carol.certifiedBy(world.alice);
    world.import(carol.cert);
    world.people.push(carol);
    assert.equal(oracle(carol.fpr, 'Carol <carol@example.org>'), 'f');
    const ssh = sshLineFromKeyPacket(carol.primary);
    assertAll(askAll(['ssh', 'Carol <carol@example.org>', 'opensshpubkey', 'client'], ssh), 1, (r) =>
      r.agent === 'msva-perl' ? failed('Carol <carol@example.org>') : `${failed('Carol <carol@example.org>')} The matching key 0x${carol.fpr} is not authentication-capable.`,
    );
    // In the e-mail context the signing capability is what counts: the primary signs.
    assertAll(askAll(['e-mail', 'Carol <carol@example.org>', 'opensshpubkey'], ssh), 0, () => ok('Carol <carol@example.org>'));
    // And her authentication subkey does not sign.
    assertAll(askAll(['e-mail', 'Carol <carol@example.org>', 'opensshpubkey'], carol.sshKey), 1, (r) =>
      r.agent === 'msva-perl' ? failed('Carol <carol@example.org>') : `${failed('Carol <carol@example.org>')} The matching subkey 0x${carol.authPacket.fpr} is not signing-capable.`,
    );
  });

  test('deliberate difference: requests the original answered 200 "not valid" are 4xx errors with us', () => {
    const orig1 = query('original', orig.url, ['foo', 'www.example.org', 'x509der'], rsa.tls.der);
    assert.equal(orig1.status, 1);
    assert.equal(orig1.stdout, 'Invalid/unknown context: foo');
    for (const client of CLIENTS) {
      const r = query(client, ours.url, ['foo', 'www.example.org', 'x509der'], rsa.tls.der);
      assert.equal(r.status, 100);
      assert.equal(r.stdout, '400 Bad Request\n');
      const bad = query(client, ours.url, ['https', 'www.example.org', 'x509der'], Buffer.from('not a certificate'));
      assert.equal(bad.status, 100);
      assert.equal(bad.stdout, '422 Unprocessable Entity\n');
    }
    assert.equal(query('original', orig.url, ['https', 'www.example.org', 'x509der'], Buffer.from('not a certificate')).status, 1);
  });
});
