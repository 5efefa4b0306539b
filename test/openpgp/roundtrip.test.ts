/**
 * Read/write round trips of the certificate layer: every gpg-made fixture and the
 * Debian keyring (905 certificates) read with readCerts and written back with
 * writeCert are byte-identical, and armored input gives the same packets as binary.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { armor, dearmor } from '../../src/openpgp/armor.js';
import { type Cert, readCerts, writeCert, writeCerts } from '../../src/openpgp/cert.js';
import { GpgHome } from '../helpers/gpg.js';
import { allPgpFiles, CERTS_DIR, DEBIAN_KEYRING, fixtureBytes, INDEX, NAMES } from './fixtures.js';

/** Fingerprints of the primary keys gpg sees in a file, in order (`--show-keys`, no import). */
function gpgPrimaryFingerprints(gpg: GpgHome, file: string): string[] {
  const fprs: string[] = [];
  let wantFpr = false;
  for (const rec of gpg.colons(['--show-keys', file])) {
    if (rec[0] === 'pub' || rec[0] === 'sec') wantFpr = true;
    else if (rec[0] === 'fpr' && wantFpr) {
      fprs.push(rec[9]);
      wantFpr = false;
    } else if (rec[0] === 'sub' || rec[0] === 'ssb') wantFpr = false;
  }
  return fprs;
}

const packetsOf = (certs: Cert[]): string[] => certs.flatMap((c) => c.packets.map((p) => `${p.tag}:${p.body.toString('hex')}`));

describe('round trip: fixtures', () => {
  let gpg: GpgHome;
  before(() => {
    gpg = new GpgHome();
  });
  after(() => gpg.cleanup());

  for (const file of allPgpFiles()) {
    test(`${file} reads without problems and writes back byte-identical`, () => {
      const bytes = readFileSync(join(CERTS_DIR, file));
      const { certs, problems } = readCerts(bytes);
      assert.deepEqual(
        problems.map((p) => p.message),
        [],
      );
      assert.ok(certs.length >= 1);
      assert.ok(writeCerts(certs).equals(bytes));
      // Each certificate on its own, too: the concatenation of the parts is the whole.
      assert.ok(Buffer.concat(certs.map(writeCert)).equals(bytes));
      assert.deepEqual(
        certs.map((c) => c.primary.fpr),
        gpgPrimaryFingerprints(gpg, join(CERTS_DIR, file)),
      );
    });
  }

  test('all.pgp holds every fixture, in index order, each identical to its own file', () => {
    const { certs } = readCerts(fixtureBytes('all'));
    assert.deepEqual(
      certs.map((c) => c.primary.fpr),
      NAMES.map((n) => INDEX[n].fpr),
    );
    certs.forEach((c, i) => {
      assert.ok(writeCert(c).equals(fixtureBytes(NAMES[i])), NAMES[i]);
    });
  });

  test('index.json user IDs are what readCerts finds', () => {
    for (const name of NAMES) {
      const { certs } = readCerts(fixtureBytes(name));
      // gpg lists user IDs in its own order, so compare sorted.
      assert.deepEqual(certs[0].users.map((u) => u.text).sort(), [...INDEX[name].uids].sort(), name);
    }
  });

  test('armored exports from gpg give the same packets as binary ones', () => {
    gpg.ok(['--import-options', 'import-local-sigs', '--import', join(CERTS_DIR, 'all.pgp')]);
    const opts = ['--export-options', 'export-local-sigs'];
    for (const name of NAMES) {
      const fpr = INDEX[name].fpr;
      const binary = gpg.ok(['--export', ...opts, fpr]).stdoutBytes;
      const armored = gpg.ok(['--armor', '--export', ...opts, fpr]).stdoutBytes;
      assert.ok(armored.toString('latin1').startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----'), name);
      assert.ok(dearmor(armored).equals(binary), name);
      assert.deepEqual(packetsOf(readCerts(dearmor(armored)).certs), packetsOf(readCerts(binary).certs), name);
    }
    // A whole keyring armored at once, and several armored blocks in one file.
    const all = gpg.ok(['--export', ...opts]).stdoutBytes;
    const allArmored = gpg.ok(['--armor', '--export', ...opts]).stdoutBytes;
    assert.ok(dearmor(allArmored).equals(all));
    const blocks = Buffer.concat(NAMES.map((n) => gpg.ok(['--armor', '--export', ...opts, INDEX[n].fpr]).stdoutBytes));
    assert.equal(readCerts(dearmor(blocks)).certs.length, NAMES.length);
  });

  test('armor written by us, with CRLF line ends, reads back the same', () => {
    const bytes = fixtureBytes('all');
    const text = armor('PUBLIC KEY BLOCK', bytes, { Comment: 'fixture' });
    assert.ok(dearmor(Buffer.from(text)).equals(bytes));
    assert.ok(dearmor(Buffer.from(text.replace(/\n/g, '\r\n'))).equals(bytes));
    // gpg reads our armor too.
    const file = join(gpg.dir, 'ours.asc');
    writeFileSync(file, text);
    assert.deepEqual(
      gpgPrimaryFingerprints(gpg, file),
      NAMES.map((n) => INDEX[n].fpr),
    );
  });
});

describe('round trip: Debian keyring', () => {
  let gpg: GpgHome;
  before(() => {
    gpg = new GpgHome();
  });
  after(() => gpg.cleanup());

  test('905 certificates, as gpg counts them, written back byte-identical', () => {
    const bytes = readFileSync(DEBIAN_KEYRING);
    const { certs, problems } = readCerts(bytes);
    assert.deepEqual(
      problems.map((p) => p.message),
      [],
    );
    const gpgFprs = gpgPrimaryFingerprints(gpg, DEBIAN_KEYRING);
    assert.equal(gpgFprs.length, 905);
    assert.equal(certs.length, gpgFprs.length);
    assert.deepEqual(
      certs.map((c) => c.primary.fpr),
      gpgFprs,
    );
    assert.ok(writeCerts(certs).equals(bytes));
  });

  test('gpg --enarmor of the keyring gives the same packets', () => {
    const bytes = readFileSync(DEBIAN_KEYRING);
    const armored = gpg.ok(['--enarmor'], bytes).stdoutBytes;
    assert.ok(armored.toString('latin1').startsWith('-----BEGIN PGP ARMORED FILE-----'));
    const decoded = dearmor(armored);
    assert.ok(decoded.equals(bytes));
    assert.equal(readCerts(decoded).certs.length, 905);
  });
});
