/**
 * recon-recover.ts against a stand-in peer whose hashquery answers in an order of its own:
 * a certificate arriving before the key that certified it is held-aside for a moment (its
 * stored digest differs), then completed when the certifier arrives; it must not be remembered
 * as refused ("trimmed"), which would keep it from being fetched again for days. A certificate
 * whose certifier never comes is.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hashqueryAnswerParts } from '../../src/keyserver/hashquery.js';
import { writeCert } from '../../src/openpgp/cert.js';
import { sksDigest } from '../../src/openpgp/sks-digest.js';
import { Keyserver } from '../../src/server/keyserver.js';
import { recover } from '../../src/server/recon-recover.js';
import { RefusedDigests } from '../../src/server/recon-refused.js';
import { openStore } from '../../src/store/index.js';
import { certify, makeKey } from '../keyserver/keys.js';

const NOW = 1_767_225_600;
const dir = mkdtempSync(join(tmpdir(), 'ms-recon-recover-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An HKP stand-in answering every hashquery with `certs`, in this order, whatever was asked. */
async function peerAnswering(certs: Buffer[]): Promise<{ port: number; close: () => Promise<void> }> {
  const parts = hashqueryAnswerParts(certs);
  const body = Buffer.concat(parts);
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'pgp/keys', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

describe('recon recovery: refusals are judged once the whole recovery is in', () => {
  test('a certificate fetched before its certifier is stored whole and not refused; one whose certifier never comes is refused as trimmed', async () => {
    const certifier = makeKey(['Certifier <certifier@recover.example>']);
    const certified = makeKey(['Certified <certified@recover.example>']);
    const orphan = makeKey(['Orphan <orphan@recover.example>']);
    const stranger = makeKey(['Stranger <stranger@recover.example>']);
    const certifiedBytes = writeCert(certify(certified, 'Certified <certified@recover.example>', certifier));
    const orphanBytes = writeCert(certify(orphan, 'Orphan <orphan@recover.example>', stranger));
    const certifierBytes = writeCert(certifier.cert);
    // The certified one first, its certifier after it; the orphan's certifier is never sent.
    const sent = [certifiedBytes, orphanBytes, certifierBytes];
    const peer = await peerAnswering(sent);
    const store = await openStore(join(dir, 'keys.sqlite'));
    try {
      const ks = await Keyserver.open(store);
      const refused = new RefusedDigests(store.meta);
      const digests = sent.map((b) => sksDigest(b));
      const report = await recover(ks, refused, { id: `127.0.0.1 ${peer.port}`, host: '127.0.0.1', httpPort: peer.port }, digests, { now: () => NOW });
      assert.equal(report.stored, 3);
      assert.deepEqual(report.refused, { trimmed: 1 });
      const stored = new Set((await store.digests.byDigest(digests)).map((c) => c.digest.toString('hex')));
      assert.deepEqual([...stored].sort(), [sksDigest(certifiedBytes), sksDigest(certifierBytes)].map((d) => d.toString('hex')).sort());
      const list = await refused.list();
      assert.deepEqual(
        list.map((r) => [r.digest, r.reason, r.fpr]),
        [[sksDigest(orphanBytes).toString('hex'), 'trimmed', orphan.primary.fpr]],
      );
    } finally {
      await store.close();
      await peer.close();
    }
  });
});
