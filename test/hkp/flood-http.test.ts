/**
 * A flooded certificate (150,000 third-party certifications by unknown keys, test/helpers/flood.ts)
 * uploaded over HTTP: while the server takes it, other clients' lookups are answered, and what
 * it stores and serves afterwards is the certificate without the flood.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dearmor } from '../../src/openpgp/armor.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { FLOOD_NOW, floodCertifications, Holder, withSignatures } from '../helpers/flood.js';
import { TestServer } from './harness.js';

describe('a flooded certificate over HTTP', () => {
  let s: TestServer;
  const victim = new Holder('http-flood-victim', ['ssh://flooded.example.org']);
  const bystander = new Holder('http-flood-bystander', ['ssh://bystander.example.org']);
  before(async () => {
    // The flood is about 20 MB: over the default body cap, so this server takes more.
    s = await TestServer.start({ now: () => FLOOD_NOW, maxBodyBytes: 64 * 1024 * 1024 });
    await s.ks.submit(Buffer.concat(bystander.cert.packets.map((p) => p.raw)), { now: FLOOD_NOW });
  });
  after(() => s.stop());

  test('lookups are answered while the flood is taken; the flood is not served', async () => {
    const flood = withSignatures(victim.cert, 'ssh://flooded.example.org', floodCertifications(victim.cert, 'ssh://flooded.example.org', 150_000, { seed: 'http-flood', newest: FLOOD_NOW - 60 }));
    assert.ok(flood.length > 16 * 1024 * 1024);
    let uploaded = false;
    const upload = fetch(`${s.base}/pks/add`, { method: 'POST', body: flood, headers: { 'content-type': 'application/pgp-keys' } }).then(async (r) => {
      uploaded = true;
      return { status: r.status, text: await r.text() };
    });
    // Lookups meanwhile: at least one must be answered before the upload is.
    let answeredDuring = 0;
    while (!uploaded) {
      const r = await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${bystander.fpr}`);
      assert.equal(r.status, 200);
      await r.text();
      if (!uploaded) answeredDuring++;
    }
    const result = await upload;
    assert.equal(result.status, 200, result.text);
    assert.ok(answeredDuring > 0, 'no lookup was answered while the flood was taken');
    const served = await (await fetch(`${s.base}/pks/lookup?op=get&options=mr&search=0x${victim.fpr}`)).text();
    const cert = readCerts(dearmor(Buffer.from(served))).certs[0];
    assert.equal(cert.primary.fpr, victim.fpr);
    // Certifications by unknown issuers are held aside, not served.
    assert.ok(served.length < 64 * 1024, `served ${served.length} bytes`);
  });
});
