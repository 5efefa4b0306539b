/**
 * The client against a real SKS 1.1.6 on loopback: upload, fetch by fingerprint and
 * key ID, exact user-ID search on top of SKS's word matching, refresh, not found.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InputError, NotFoundError } from '../../src/errors.js';
import { type KeyserverEvent, KeyserverClient } from '../../src/keyserver/client.js';
import { armor } from '../../src/openpgp/armor.js';
import { keyPacketFor, signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import { type Cert, readCerts, writeCert } from '../../src/openpgp/cert.js';
import { encodePacket, Tag } from '../../src/openpgp/packets.js';
import { SigType } from '../../src/openpgp/signature.js';
import { SksServer } from '../helpers/sks.js';
import { CREATED, certifiers, certify, makeKey } from './keys.js';

/** Packet bodies of a certificate as a sorted list: SKS may reorder packets. */
function packetSet(cert: Cert): string[] {
  return cert.packets.map((p) => `${p.tag}:${p.body.toString('hex')}`).sort();
}

describe('keyserver client against SKS 1.1.6', () => {
  let sks: SksServer;
  let client: KeyserverClient;
  const events: KeyserverEvent[] = [];

  before(async () => {
    sks = await SksServer.start();
    client = new KeyserverClient({ servers: [sks.url], timeoutMs: 15_000, onEvent: (e) => events.push(e) });
  });
  after(async () => {
    await sks?.stop();
  });

  test('send, then get back by fingerprint and by key ID', async () => {
    const alice = makeKey(['Alice <alice@example.org>']);
    const sent = await client.send([alice.cert]);
    assert.equal(sent.server, sks.url);
    assert.deepEqual(sent.sent, [alice.primary.fpr]);
    assert.deepEqual(sent.failures, []);
    assert.equal(sent.withheldSignatures, 0);

    const byFpr = await client.getByFingerprint(alice.primary.fpr);
    assert.equal(byFpr.server, sks.url);
    assert.equal(byFpr.certs.length, 1);
    assert.deepEqual(byFpr.problems, []);
    assert.deepEqual(packetSet(byFpr.certs[0]), packetSet(alice.cert));

    const byLowerWithPrefix = await client.getByFingerprint(`0x${alice.primary.fpr.toLowerCase()}`);
    assert.equal(byLowerWithPrefix.certs[0].primary.fpr, alice.primary.fpr);

    const byKeyId = await client.getByKeyId(alice.primary.keyId);
    assert.equal(byKeyId.certs.length, 1);
    assert.equal(byKeyId.certs[0].primary.fpr, alice.primary.fpr);

    assert.ok(events.some((e) => e.type === 'request' && e.op === `get 0x${alice.primary.fpr}`));
    assert.ok(events.some((e) => e.type === 'answer' && e.found && e.bytes > 0));
  });

  test('several certificates in one upload', async () => {
    const a = makeKey(['Batch One <one@example.org>']);
    const b = makeKey(['Batch Two <two@example.org>']);
    const sent = await client.send([a.cert, b.cert]);
    assert.deepEqual(sent.sent, [a.primary.fpr, b.primary.fpr]);
    for (const k of [a, b]) assert.equal((await client.getByFingerprint(k.primary.fpr)).certs[0].primary.fpr, k.primary.fpr);
  });

  test('not found: lookups throw NotFoundError, searches are empty', async () => {
    const nobody = makeKey(['Nobody <nobody@example.org>']);
    await assert.rejects(client.getByFingerprint(nobody.primary.fpr), (e: unknown) => e instanceof NotFoundError && e.code === 'MS_KEYSERVER_NOT_FOUND' && e.data.server === sks.url);
    await assert.rejects(client.getByKeyId(nobody.primary.keyId), NotFoundError);
    const search = await client.searchExact('Nobody <nobody@example.org>');
    assert.deepEqual(search.certs, []);
    assert.deepEqual(search.matches, []);
    assert.equal(search.server, sks.url);
  });

  test('malformed IDs are refused before any request', async () => {
    await assert.rejects(client.getByFingerprint('1234'), (e: unknown) => e instanceof InputError && e.code === 'MS_KEYSERVER_BAD_ID');
    await assert.rejects(client.getByKeyId('DEADBEEF'), (e: unknown) => e instanceof InputError && e.hints.some((h) => h.includes('short key IDs collide')));
    await assert.rejects(client.getByKeyId('not hex at all!!'), InputError);
  });

  test('exact user-ID search: ssh:// user IDs, and a word-prefix user ID does not match', async () => {
    const host = makeKey(['ssh://host.example.org']);
    const longer = makeKey(['ssh://host.example.org.evil']);
    const multi = makeKey(['Ops <ops@example.org>', 'ssh://host.example.org']);
    const near = makeKey(['SSH://HOST.EXAMPLE.ORG']);
    await client.send([host.cert, longer.cert, multi.cert, near.cert]);

    const r = await client.searchExact('ssh://host.example.org');
    assert.equal(r.server, sks.url);
    // SKS matches words, so its index lists all four; only two carry the exact user ID.
    assert.deepEqual(r.matches.map((m) => m.id).sort(), [host.primary.fpr, multi.primary.fpr].sort());
    assert.deepEqual(r.certs.map((c) => c.primary.fpr).sort(), [host.primary.fpr, multi.primary.fpr].sort());
    assert.deepEqual(r.unfetched, []);
    assert.deepEqual(r.problems, []);
    const fetchedMulti = r.certs.find((c) => c.primary.fpr === multi.primary.fpr)!;
    assert.deepEqual(packetSet(fetchedMulti), packetSet(multi.cert));

    const evil = await client.searchExact('ssh://host.example.org.evil');
    assert.deepEqual(evil.certs.map((c) => c.primary.fpr), [longer.primary.fpr]);

    // A single word of the user ID is found by SKS but is not an exact match.
    const word = await client.searchExact('host');
    assert.deepEqual(word.certs, []);
    assert.equal(word.matches.length, 0);
  });

  test('exact search for user IDs with a colon and non-ASCII characters', async () => {
    const zoe = makeKey(['Zoë Colon: Test <zoe@example.org>']);
    await client.send([zoe.cert]);
    const r = await client.searchExact('Zoë Colon: Test <zoe@example.org>');
    assert.deepEqual(r.certs.map((c) => c.primary.fpr), [zoe.primary.fpr]);
    assert.deepEqual((await client.searchExact('Zoe Colon: Test <zoe@example.org>')).certs, []);
  });

  test('refresh merges a certification uploaded later; unknown certificates are listed', async () => {
    const carol = makeKey(['Carol <carol@example.org>']);
    const dave = makeKey(['Dave <dave@example.org>']);
    const unknown = makeKey(['Unknown <unknown@example.org>']);
    await client.send([carol.cert]);
    const mine = (await client.getByFingerprint(carol.primary.fpr)).certs[0];
    assert.deepEqual(certifiers(mine, 'Carol <carol@example.org>'), []);

    // Dave certifies Carol and uploads the result.
    await client.send([certify(carol, 'Carol <carol@example.org>', dave)]);

    const r = await client.refresh([mine, unknown.cert]);
    assert.deepEqual(r.updated, [carol.primary.fpr]);
    assert.deepEqual(r.notFound, [unknown.primary.fpr]);
    assert.deepEqual(r.failed, []);
    assert.equal(r.certs.length, 2);
    assert.deepEqual(certifiers(r.certs[0], 'Carol <carol@example.org>'), [dave.primary.fpr]);
    assert.equal(r.certs[1], unknown.cert);

    // Refreshing again changes nothing.
    const again = await client.refresh(r.certs.slice(0, 1));
    assert.deepEqual(again.updated, []);
    assert.deepEqual(packetSet(again.certs[0]), packetSet(r.certs[0]));
  });

  test('local (non-exportable) certifications are never uploaded', async () => {
    const erin = makeKey(['Erin <erin@example.org>']);
    const core = makeKey(['Core <core@example.org>']);
    const withLocal = certify(erin, 'Erin <erin@example.org>', core, { exportable: false });
    const sent = await client.send([withLocal]);
    assert.equal(sent.withheldSignatures, 1);
    const got = (await client.getByFingerprint(erin.primary.fpr)).certs[0];
    assert.deepEqual(certifiers(got, 'Erin <erin@example.org>'), []);
  });

  test('secret keys are refused', async () => {
    const k = makeKey(['Secret <secret@example.org>']);
    const primary = keyPacketFor(k.privateKey, CREATED, { secret: true });
    const user = userIdPacket('Secret <secret@example.org>');
    const sig = signV4({ kind: 'user', primary, user }, { type: SigType.PositiveCert, signer: primary, privateKey: k.privateKey, hashed: [sp.created(CREATED)] });
    const secret = readCerts(Buffer.concat([primary.packet.raw, user.raw, sig.packet.raw])).certs[0];
    assert.equal(secret.secret, true);
    await assert.rejects(client.send([secret]), (e: unknown) => e instanceof InputError && e.code === 'MS_KEYSERVER_SECRET_KEY');
    await assert.rejects(client.getByFingerprint(k.primary.fpr), NotFoundError);
  });

  test('sending bytes: unreadable parts are reported, the rest is sent', async () => {
    const frank = makeKey(['Frank <frank@example.org>']);
    const junkKey = encodePacket(Tag.PublicKey, Buffer.from([4, 0, 0]));
    const sent = await client.send(Buffer.concat([writeCert(frank.cert), junkKey]));
    assert.deepEqual(sent.sent, [frank.primary.fpr]);
    assert.equal(sent.problems.length, 1);
    assert.equal((await client.getByFingerprint(frank.primary.fpr)).certs.length, 1);

    const armored = await client.send(Buffer.from(armor('PUBLIC KEY BLOCK', writeCert(frank.cert))));
    assert.deepEqual(armored.sent, [frank.primary.fpr]);

    await assert.rejects(client.send(Buffer.from('garbage keytext, not a key\n')), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.code, 'MS_KEYSERVER_NOTHING_TO_SEND');
      const problems = e.data.problems as InputError[];
      assert.equal(problems[0].code, 'MS_ARMOR_MALFORMED');
      return true;
    });
    await assert.rejects(client.send(junkKey), (e: unknown) => e instanceof InputError && (e.data.problems as unknown[]).length === 1);
  });
});
