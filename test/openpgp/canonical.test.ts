/**
 * canonicalCert and the canonical merge (security review finding 3): each user ID,
 * attribute and subkey once with every signature on it gathered there, no signature
 * twice; an already canonical certificate is returned as it is, byte for byte. Collapsing
 * is compared with gpg 2.2's import where gpg collapses (user IDs within one copy, and
 * both user IDs and subkeys when copies merge).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Cert, readCerts, type SigEntry, writeCert } from '../../src/openpgp/cert.js';
import { canonicalCert, isCanonical, mergeCerts } from '../../src/openpgp/merge.js';
import type { Packet } from '../../src/openpgp/packets.js';
import { NOW, Person } from '../auth/pki.js';
import { GpgHome } from '../helpers/gpg.js';
import { certShape, fixtureCert, NAMES } from './fixtures.js';

const raw = (packets: Packet[]) => Buffer.concat(packets.map((p) => p.raw));
const readOne = (bytes: Buffer): Cert => readCerts(bytes).certs[0];

/** A certificate with two user IDs (the first certified by another key) and a subkey with a binding and a revocation. */
function richFixture(): Cert {
  const other = new Person(['Other <other@example.org>']);
  const p = new Person(['First <first@example.org>', 'Second <second@example.org>']).certifiedBy(other);
  p.revokeSubkey(NOW - 86400);
  assert.ok(p.cert.users[0].signatures.length >= 2 && p.cert.subkeys[0].signatures.length >= 2);
  return p.cert;
}

/** What gpg holds after importing each copy in turn. */
function gpgImport(copies: Buffer[]): Cert {
  const gpg = new GpgHome();
  try {
    for (const c of copies) gpg.ok(['--import-options', 'import-local-sigs', '--import'], c);
    const [cert] = readCerts(gpg.ok(['--export', '--export-options', 'export-local-sigs']).stdoutBytes).certs;
    return cert;
  } finally {
    gpg.cleanup();
  }
}

describe('canonicalCert', () => {
  test('every fixture is canonical already: the same object comes back', () => {
    for (const name of NAMES) {
      const c = fixtureCert(name);
      assert.equal(isCanonical(c), true, name);
      assert.equal(canonicalCert(c), c, name);
    }
  });

  test('collapses a duplicated user ID, subkey and signature, keeping first-seen order', () => {
    const c = richFixture();
    const [u0, u1] = c.users;
    const s0 = c.subkeys[0];
    const sigs = (l: SigEntry[]) => l.map((e) => e.packet);
    // u0 again after u1 with its signatures split between the copies; s0 twice; a signature repeated.
    const packets: Packet[] = [c.primary.packet, ...sigs(c.directSigs)];
    packets.push(u0.packet, u0.signatures[0].packet, u0.signatures[0].packet);
    packets.push(u1.packet, ...sigs(u1.signatures));
    packets.push(u0.packet, ...sigs(u0.signatures.slice(1)));
    packets.push(s0.key.packet, ...sigs(s0.signatures), s0.key.packet, ...sigs(s0.signatures));
    for (const s of c.subkeys.slice(1)) packets.push(s.key.packet, ...sigs(s.signatures));
    for (const u of c.users.slice(2)) packets.push(u.packet, ...sigs(u.signatures));
    const dup = readOne(raw(packets));
    const before = writeCert(dup);
    assert.equal(isCanonical(dup), false);

    const canon = canonicalCert(dup);
    assert.ok(writeCert(dup).equals(before), 'the input is not modified');
    assert.equal(isCanonical(canon), true);
    assert.deepEqual(
      canon.users.map((u) => u.packet.body),
      [u0.packet.body, u1.packet.body, ...c.users.slice(2).map((u) => u.packet.body)],
    );
    assert.equal(canon.subkeys.length, c.subkeys.length);
    assert.deepEqual(certShape(canon), certShape(c), 'every signature back on its component, none twice');
    // The packet list is the components in order and reads back as the same certificate.
    assert.deepEqual(certShape(readOne(writeCert(canon))), certShape(c));
  });

  test('a duplicated user ID collapses like gpg 2.2 collapses it on import', () => {
    const c = richFixture();
    const u0 = c.users[0];
    const packets: Packet[] = [c.primary.packet, ...c.directSigs.map((e) => e.packet)];
    for (const u of c.users) packets.push(u.packet, ...u.signatures.map((e) => e.packet));
    packets.push(u0.packet, ...u0.signatures.map((e) => e.packet));
    for (const s of c.subkeys) packets.push(s.key.packet, ...s.signatures.map((e) => e.packet));
    const bytes = raw(packets);
    assert.deepEqual(certShape(canonicalCert(readOne(bytes))), certShape(gpgImport([bytes])));
  });
});

describe('mergeCerts collapses duplicates of both inputs', () => {
  test('a signature arriving later lands on the one copy of its user ID and subkey, as in gpg', () => {
    const c = richFixture();
    const u0 = c.users[0];
    const s0 = c.subkeys[0];
    const last = (l: SigEntry[]) => l[l.length - 1].packet;
    // First copy: u0 and s0 twice, each without its last signature; second copy: those signatures.
    const first: Packet[] = [c.primary.packet, ...c.directSigs.map((e) => e.packet)];
    for (const u of c.users) first.push(u.packet, ...u.signatures.slice(0, u === u0 ? -1 : undefined).map((e) => e.packet));
    first.push(u0.packet, u0.signatures[0].packet);
    for (const s of c.subkeys) first.push(s.key.packet, ...s.signatures.slice(0, s === s0 ? -1 : undefined).map((e) => e.packet));
    first.push(s0.key.packet, s0.signatures[0].packet);
    const second: Packet[] = [c.primary.packet, u0.packet, u0.signatures[0].packet, last(u0.signatures), s0.key.packet, s0.signatures[0].packet, last(s0.signatures)];
    const a = readOne(raw(first));
    const b = readOne(raw(second));
    for (const [x, y] of [
      [a, b],
      [b, a],
    ]) {
      const merged = mergeCerts(x, y);
      assert.equal(isCanonical(merged), true);
      assert.deepEqual(certShape(merged), certShape(c));
    }
    assert.deepEqual(certShape(mergeCerts(a, b)), certShape(gpgImport([raw(first), raw(second)])));
  });

  test('a component with more signatures than a call takes arguments merges', () => {
    const c = richFixture();
    const u = c.users[0];
    const template = u.signatures[0];
    const many: SigEntry[] = [];
    for (let i = 0; i < 200_000; i++) {
      const body = Buffer.concat([template.packet.body, Buffer.from(i.toString(16))]);
      many.push({ packet: { ...template.packet, body, raw: body } });
    }
    const flood: Cert = { ...c, users: [{ ...u, signatures: many }, ...c.users.slice(1)] };
    const merged = mergeCerts(c, flood);
    assert.equal(merged.users[0].signatures.length, u.signatures.length + many.length);
    assert.equal(canonicalCert(flood), flood);
  });
});
