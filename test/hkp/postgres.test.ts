/**
 * The keyserver on a real PostgreSQL (test/helpers/postgres.ts): the GnuPG suite every store
 * runs, two servers sharing one database (what one takes, the other serves at once, and
 * uploads to both merge), and the database going away (503, health 503, back when it returns).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseMrIndex } from '../../src/keyserver/mr-index.js';
import { armor, dearmor } from '../../src/openpgp/armor.js';
import { readCerts, writeCert } from '../../src/openpgp/cert.js';
import { PostgresServer } from '../helpers/postgres.js';
import { certify, makeKey } from '../keyserver/keys.js';
import { gnupgSuite, homeFor } from './gnupg.suite.js';
import { gpgOk, TestServer } from './harness.js';

const pg = new PostgresServer();
before(() => pg.start());
after(() => pg.stop());

gnupgSuite('PostgreSQL', async () => TestServer.start({ location: await pg.database() }));

const form = (bytes: Buffer) => `keytext=${encodeURIComponent(armor('PUBLIC KEY BLOCK', bytes))}`;
const post = (base: string, bytes: Buffer) => fetch(`${base}/pks/add`, { method: 'POST', body: form(bytes), headers: { 'content-type': 'application/x-www-form-urlencoded' } });

describe('two servers sharing one PostgreSQL', () => {
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    const url = await pg.database();
    a = await TestServer.start({ location: url });
    b = await TestServer.start({ location: url });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  test('what one server takes, the other serves; certifications sent to each merge', async () => {
    const host = makeKey(['ssh://shared.example.org']);
    const c1 = makeKey(['One <one@example.org>']);
    const c2 = makeKey(['Two <two@example.org>']);
    assert.equal((await post(a.base, Buffer.concat([writeCert(c1.cert), writeCert(c2.cert)]))).status, 200);
    assert.equal((await post(a.base, writeCert(host.cert))).status, 200);
    const idx = parseMrIndex(await (await fetch(`${b.base}/pks/lookup?op=index&options=mr&search=ssh://shared.example.org`)).text());
    assert.deepEqual(
      idx.keys.map((k) => k.id),
      [host.primary.fpr],
    );
    // Two certifications, one through each server, at once.
    const [r1, r2] = await Promise.all([post(a.base, writeCert(certify(host, 'ssh://shared.example.org', c1))), post(b.base, writeCert(certify(host, 'ssh://shared.example.org', c2)))]);
    assert.equal(r1.status, 200);
    assert.equal(r2.status, 200);
    for (const s of [a, b]) {
      const got = await (await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${host.primary.fpr}`)).text();
      const cert = readCerts(dearmor(Buffer.from(got))).certs[0];
      const issuers = cert.users[0].signatures.flatMap((e) => e.sig?.issuerFingerprints ?? []).filter((f) => f !== host.primary.fpr);
      assert.deepEqual(issuers.sort(), [c1.primary.fpr, c2.primary.fpr].sort());
    }
  });

  test('gpg sends to one server and receives from the other', async () => {
    const sender = homeFor(a);
    const receiver = homeFor(b);
    try {
      sender.ok(['--quick-gen-key', 'ssh://gpg-shared.example.org', 'ed25519', 'cert,auth', '0']);
      const fpr = sender.colons(['--list-keys']).find((r) => r[0] === 'fpr')![9];
      await gpgOk(sender, ['--send-keys', fpr]);
      await gpgOk(receiver, ['--recv-keys', fpr]);
      assert.ok(receiver.colons(['--list-keys']).some((r) => r[0] === 'fpr' && r[9] === fpr));
    } finally {
      sender.cleanup();
      receiver.cleanup();
    }
  });
});

describe('the database going away', () => {
  test('lookups and uploads answer 503 and health 503 while PostgreSQL is down; the server stays up', async () => {
    const own = new PostgresServer();
    await own.start();
    const s = await TestServer.start({ location: await own.database() });
    try {
      const k = makeKey(['ssh://down.example.org']);
      assert.equal((await post(s.base, writeCert(k.cert))).status, 200);
      await own.stop();
      const r = await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${k.primary.fpr}`);
      assert.equal(r.status, 503);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal((await post(s.base, writeCert(k.cert))).status, 503);
      assert.equal((await fetch(`${s.base}/pks/health`)).status, 503);
      assert.equal((await fetch(`${s.base}/metrics`)).status, 200);
    } finally {
      await s.server.close(100);
      await s.store.close().catch(() => undefined);
    }
  });
});
