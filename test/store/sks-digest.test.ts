/**
 * The SKS key hash (src/openpgp/sks-digest.ts) against a real SKS 1.1.6: every fixture
 * certificate is uploaded, SKS's own hash is read from its vindex page (`hash=on`), and ours
 * must equal it, both of what we sent and of what SKS hands back for that hash (`op=hget`).
 * Then the properties SKS and Hockeypuck rely on: packet order, duplicates and header
 * format do not change the digest; any packet does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { armor, dearmor } from '../../src/openpgp/armor.js';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import { encodeOldPacket, encodePacket } from '../../src/openpgp/packets.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import { deriveIndexes } from '../../src/store/derive.js';
import { SksServer } from '../helpers/sks.js';
import { fixtureRing, publicBytes } from './cert-store.suite.js';

function packetSet(cert: Cert): string[] {
  return cert.packets.map((p) => `${p.tag}:${p.body.toString('hex')}`).sort();
}

describe('sksDigest against SKS 1.1.6', () => {
  let sks: SksServer;
  const base = () => `http://127.0.0.1:${sks.port}/pks`;

  before(async () => {
    sks = await SksServer.start();
  });
  after(async () => {
    await sks?.stop();
  });

  test('equals the hash SKS reports for every fixture certificate', async () => {
    const ring = fixtureRing();
    assert.ok(ring.length >= 20);
    const res = await fetch(`${base()}/add`, { method: 'POST', body: new URLSearchParams({ keytext: armor('PUBLIC KEY BLOCK', Buffer.concat(ring.map(publicBytes))) }) });
    assert.equal(res.status, 200, await res.text());
    let sameAsSent = 0;
    for (const cert of ring) {
      const page = await (await fetch(`${base()}/lookup?op=vindex&hash=on&search=0x${cert.primary.fpr}`)).text();
      const reported = /Hash=<a [^>]*>([0-9A-F]{32})<\/a>/.exec(page)?.[1];
      assert.ok(reported, `SKS reports no hash for ${cert.primary.fpr}`);
      const back = await (await fetch(`${base()}/lookup?op=hget&search=${reported.toLowerCase()}`)).text();
      const served = readCerts(dearmor(Buffer.from(back.slice(back.indexOf('-----BEGIN'), back.indexOf('</pre>'))))).certs;
      assert.equal(served.length, 1, cert.primary.fpr);
      assert.equal(sksDigest(served[0]).toString('hex').toUpperCase(), reported, `digest of what SKS serves for ${cert.primary.fpr}`);
      assert.equal(sksDigest(publicBytes(served[0])).toString('hex').toUpperCase(), reported);
      if (packetSet(served[0]).join() === packetSet(cert).join()) {
        sameAsSent++;
        assert.equal(sksDigest(cert).toString('hex').toUpperCase(), reported, `digest of ${cert.primary.fpr} as sent`);
        assert.deepEqual(deriveIndexes(cert).digest, sksDigest(cert));
      }
    }
    // SKS keeps most fixtures as they are; the digest must have been checked on them.
    assert.ok(sameAsSent >= ring.length - 3, `only ${sameAsSent} of ${ring.length} came back unchanged`);
  });
});

describe('sksDigest', () => {
  const cert = fixtureRing().find((c) => c.subkeys.length > 0 && c.users.length > 0)!;
  const packets = cert.packets;

  test('ignores packet order, duplicates and header format', () => {
    const want = sksDigest(cert);
    assert.equal(want.length, 16);
    const reversed = Buffer.concat([...packets].reverse().map((p) => p.raw));
    assert.deepEqual(sksDigest(reversed), want);
    const doubled = Buffer.concat([...packets, ...packets].map((p) => p.raw));
    assert.deepEqual(sksDigest(doubled), want);
    const oldFormat = Buffer.concat(packets.map((p) => encodeOldPacket(p.tag, p.body)));
    const newFormat = Buffer.concat(packets.map((p) => encodePacket(p.tag, p.body)));
    assert.deepEqual(sksDigest(oldFormat), want);
    assert.deepEqual(sksDigest(newFormat), want);
    // Trust packets are not the keyserver's.
    assert.deepEqual(sksDigest(Buffer.concat([publicBytes(cert), Buffer.from([0xb0, 0x02, 0x00, 0x00])])), want);
  });

  test('changes with any packet', () => {
    const want = sksDigest(cert).toString('hex');
    const seen = new Set([want]);
    for (let i = 0; i < packets.length; i++) {
      const without = Buffer.concat(packets.filter((_, j) => j !== i).map((p) => p.raw));
      const d = sksDigest(without).toString('hex');
      assert.ok(!seen.has(d), `dropping packet ${i} leaves the digest`);
      seen.add(d);
    }
  });

  test('is MD5 over int32be(tag) ‖ int32be(length) ‖ body, sorted by tag then body', async () => {
    const { createHash } = await import('node:crypto');
    const a = encodePacket(13, Buffer.from('b'));
    const b = encodePacket(13, Buffer.from('ab'));
    const c = encodePacket(2, Buffer.from('zz'));
    const md5 = createHash('md5');
    for (const [tag, body] of [
      [2, 'zz'],
      [13, 'ab'],
      [13, 'b'],
    ] as const) {
      const h = Buffer.alloc(8);
      h.writeInt32BE(tag, 0);
      h.writeInt32BE(body.length, 4);
      md5.update(h).update(body);
    }
    assert.deepEqual(sksDigest(Buffer.concat([a, b, c, a])), md5.digest());
  });
});
