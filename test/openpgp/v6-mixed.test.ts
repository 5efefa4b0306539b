/**
 * Signatures across key versions (RFC 9580 §5.2.4): the key prefix a signature hashes follows the
 * signature's version, so a v6 key's certification of a v4 key's user ID hashes the v4 key as
 * 0x9B and a four-octet length. openpgp.js made the fixture (test/fixtures/store/make-v6.ts) and
 * is the oracle; our Verifier must agree with it, and refuse the certification once corrupted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as openpgp from 'openpgp';
import { evaluateCerts } from '../../src/cert/evaluate.js';
import { Keyring } from '../../src/keyring/keyring.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { Verifier } from '../../src/verify/verifier.js';
import { REFERENCE_TIME } from '../helpers/gpg.js';

const DIR = new URL('../fixtures/store/', import.meta.url).pathname;

test("a v6 key's certification of a v4 key verifies, as openpgp.js verifies it", async () => {
  const v6Bytes = readFileSync(`${DIR}v6.pgp`);
  const v4Bytes = readFileSync(`${DIR}v6-certified.pgp`);
  const [v6] = readCerts(v6Bytes).certs;
  const [v4] = readCerts(v4Bytes).certs;
  const third = v4.users[0].signatures.filter((e) => e.sig?.version === 6);
  assert.equal(third.length, 1, 'the fixture holds one v6 certification');

  const oracle = await openpgp.readKey({ binaryKey: v4Bytes });
  const signer = await openpgp.readKey({ binaryKey: v6Bytes });
  const results = await oracle.verifyAllUsers([signer], new Date(REFERENCE_TIME * 1000));
  assert.ok(results.some((r) => r.keyID.toHex().toUpperCase() === v6.primary.keyId && r.valid === true), 'openpgp.js verifies it');

  const [ev] = await evaluateCerts([v4], new Keyring([v4, v6]), { now: REFERENCE_TIME, verifier: new Verifier() });
  const ours = ev.userIds[0].certifications.find((c) => c.issuer === v6.primary.fpr);
  assert.equal(ours?.outcome, 'good');

  // One bit flipped in the signature value: neither accepts it.
  const raw = Buffer.from(third[0].packet.raw);
  raw[raw.length - 5] ^= 0x01;
  const corrupted = Buffer.from(v4Bytes);
  corrupted.set(raw, v4Bytes.indexOf(third[0].packet.raw));
  const [bad] = readCerts(corrupted).certs;
  const [evBad] = await evaluateCerts([bad], new Keyring([bad, v6]), { now: REFERENCE_TIME, verifier: new Verifier() });
  assert.equal(evBad.userIds[0].certifications.find((c) => c.issuerKeyId === v6.primary.keyId)?.outcome, 'bad');
});
