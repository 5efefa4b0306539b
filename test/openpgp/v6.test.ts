/**
 * Version 6 keys (RFC 9580), made by openpgp.js (gpg 2.2.40 has no v6): readCerts
 * gives openpgp.js's fingerprint, our Verifier accepts every self-signature, and
 * rejects corrupted ones, as openpgp.js does. Keys are generated per run: openpgp.js
 * is the only v6 producer we have, and the generation is fast.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { MalformedPacketError, MsError } from '../../src/errors.js';
import { dearmor } from '../../src/openpgp/armor.js';
import { type Cert, readCerts, writeCert } from '../../src/openpgp/cert.js';
import type { Packet } from '../../src/openpgp/packets.js';
import { parseSignature } from '../../src/openpgp/signature.js';
import { Verifier } from '../../src/verify/verifier.js';
import { REFERENCE_TIME } from '../helpers/gpg.js';
import { locatedSigs } from './fixtures.js';

const KINDS = [
  { label: 'Ed25519 + X25519', options: { type: 'curve25519' }, primaryAlg: 27, subAlg: 25 },
  { label: 'Ed448 + X448', options: { type: 'curve448' }, primaryAlg: 28, subAlg: 26 },
  { label: 'ECDSA P-256 + ECDH P-256', options: { type: 'ecc', curve: 'nistP256' }, primaryAlg: 19, subAlg: 18 },
] satisfies Array<{ label: string; options: Pick<openpgp.KeyOptions, 'type' | 'curve'>; primaryAlg: number; subAlg: number }>;

async function generate(options: Pick<openpgp.KeyOptions, 'type' | 'curve'>): Promise<{ bytes: Buffer; fingerprint: string; key: openpgp.PublicKey }> {
  const { publicKey } = await openpgp.generateKey({
    ...options,
    userIDs: [{ name: 'Vera Six', email: 'vera@example.org' }],
    date: new Date((REFERENCE_TIME - 86400) * 1000),
    config: { v6Keys: true },
    format: 'object',
  });
  return { bytes: dearmor(Buffer.from(publicKey.armor())), fingerprint: publicKey.getFingerprint(), key: publicKey };
}

const readOne = (bytes: Buffer): Cert => {
  const { certs, problems } = readCerts(bytes);
  assert.deepEqual(
    problems.map((p) => p.message),
    [],
  );
  assert.equal(certs.length, 1);
  return certs[0];
};

async function verifySelfSigs(cert: Cert): Promise<boolean[]> {
  return new Verifier().verify(locatedSigs(cert).map((s) => ({ issuer: cert.primary, sig: s.sig, target: s.target })));
}

/**
 * openpgp.js's opinion of one component of a (possibly corrupted) binary certificate:
 * the primary key (its direct-key signature), the user ID, or the subkey binding.
 */
async function openpgpAccepts(bytes: Buffer, component: 'key' | 'user' | 'subkey'): Promise<boolean> {
  const date = new Date(REFERENCE_TIME * 1000);
  try {
    const key = await openpgp.readKey({ binaryKey: bytes });
    if (component === 'key') await key.verifyPrimaryKey(date);
    else if (component === 'user') await key.users[0].verify(date);
    else await key.subkeys[0].verify(date);
    return true;
  } catch {
    return false;
  }
}

describe('v6 certificates from openpgp.js', () => {
  for (const kind of KINDS) {
    test(`${kind.label}: fingerprint, structure and round trip`, async () => {
      const { bytes, fingerprint } = await generate(kind.options);
      const cert = readOne(bytes);
      assert.equal(cert.primary.version, 6);
      assert.equal(cert.primary.fpr, fingerprint.toUpperCase());
      assert.equal(cert.primary.fingerprint.length, 32);
      // A v6 key ID is the first 64 bits of the fingerprint.
      assert.equal(cert.primary.keyId, fingerprint.toUpperCase().slice(0, 16));
      assert.equal(cert.primary.algorithm, kind.primaryAlg);
      assert.deepEqual(
        cert.subkeys.map((s) => [s.key.version, s.key.algorithm]),
        [[6, kind.subAlg]],
      );
      assert.deepEqual(
        cert.users.map((u) => u.text),
        ['Vera Six <vera@example.org>'],
      );
      // openpgp.js puts the key's properties on a direct-key signature.
      assert.deepEqual(
        cert.directSigs.map((s) => s.sig?.type),
        [0x1f],
      );
      for (const s of locatedSigs(cert)) {
        assert.equal(s.sig.version, 6);
        assert.ok(s.sig.salt && s.sig.salt.length >= 16, 'salted');
        assert.deepEqual(s.sig.issuerFingerprints, [cert.primary.fpr]);
        assert.deepEqual(s.sig.defects, []);
      }
      assert.ok(writeCert(cert).equals(bytes));
    });

    test(`${kind.label}: every self-signature verifies; corrupted ones do not, for openpgp.js either`, async () => {
      const { bytes } = await generate(kind.options);
      const cert = readOne(bytes);
      const sigs = locatedSigs(cert);
      assert.equal(sigs.length, 3);
      assert.deepEqual(await verifySelfSigs(cert), [true, true, true]);
      for (const component of ['key', 'user', 'subkey'] as const) assert.equal(await openpgpAccepts(bytes, component), true, component);
      for (const [i, s] of sigs.entries()) {
        for (const [what, view] of [
          ['salt', s.sig.salt!],
          ['value', s.sig.values[s.sig.values.length - 1]],
        ] as const) {
          const corrupted = Buffer.from(bytes);
          const at = s.entry.packet.offset + (view.byteOffset - s.entry.packet.raw.byteOffset);
          corrupted[at + view.length - 1] ^= 0x01;
          const verdicts = await verifySelfSigs(readOne(corrupted));
          assert.deepEqual(
            verdicts,
            sigs.map((_, j) => j !== i),
            `signature ${i} (${s.where}), ${what}`,
          );
          assert.equal(await openpgpAccepts(corrupted, s.target.kind), false, `openpgp.js: ${s.where} ${what}`);
        }
      }
    });
  }

  test('every proper prefix of a v6 signature body is malformed, never a half-parsed signature', async () => {
    const { bytes } = await generate(KINDS[0].options);
    const cert = readOne(bytes);
    for (const s of locatedSigs(cert)) {
      const body = s.entry.packet.body;
      for (let n = 0; n < body.length; n++) {
        const cut = body.subarray(0, n);
        const packet: Packet = { tag: 2, offset: 0, raw: cut, body: cut };
        // Before the fix in signature.ts, the prefix ending right after the digest prefix
        // (no salt length) parsed into a signature with an empty salt and value.
        assert.throws(
          () => parseSignature(packet),
          (err: unknown) => err instanceof MalformedPacketError && /packet tag 2 at offset 0/.test(err.message),
          `${s.where}: prefix of ${n} of ${body.length} bytes`,
        );
      }
    }
  });

  test('a v6 certificate cut at every offset: readCerts never throws, problems name tag and offset', async () => {
    const { bytes } = await generate(KINDS[0].options);
    for (let n = 0; n < bytes.length; n++) {
      const { problems } = readCerts(bytes.subarray(0, n));
      for (const p of problems) {
        assert.ok(p instanceof MsError);
        assert.match(p.message, /packet tag \d+ at offset \d+/);
      }
    }
  });
});
