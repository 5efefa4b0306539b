/**
 * Keygrips computed from key material equal gpg's (`gpg --with-keygrip --with-colons`, the
 * oracle), for every algorithm and curve gpg 2.2 makes keys of: RSA, DSA, ElGamal, EdDSA,
 * Curve25519, ECDSA and ECDH on NIST P-256/384/521.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { keygripOf } from '../../src/agent/keygrip.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { GpgHome } from '../helpers/gpg.js';

describe('keygrips', () => {
  const gpg = new GpgHome();
  after(() => gpg.cleanup());

  test('equal gpg --with-keygrip for every key gpg makes', () => {
    const made: Array<[string, string]> = [
      ['rsa2048', 'rsa2048'],
      ['ed25519', 'cv25519'],
      ['nistp256', 'nistp256'],
      ['nistp384', 'nistp384'],
      ['nistp521', 'nistp521'],
      ['dsa1024', 'elg1024'],
    ];
    for (const [i, [primary, sub]] of made.entries()) {
      gpg.ok(['--quick-gen-key', `k${i} <k${i}@example.org>`, primary, 'sign', '0']);
      gpg.ok(['--quick-add-key', fprOf(gpg, `k${i}@example.org`), sub, 'encr', '0']);
    }
    gpg.ok(['--quick-add-key', fprOf(gpg, 'k0@example.org'), 'ed25519', 'auth', '0']);
    const expected = new Map<string, string>();
    let fpr = '';
    for (const rec of gpg.colons(['--with-keygrip', '--list-keys'])) {
      if (rec[0] === 'fpr') fpr = rec[9];
      if (rec[0] === 'grp') expected.set(fpr, rec[9]);
    }
    const { certs } = readCerts(gpg.ok(['--export']).stdoutBytes);
    const ours = new Map<string, string | undefined>();
    for (const c of certs) for (const k of [c.primary, ...c.subkeys.map((s) => s.key)]) ours.set(k.fpr, keygripOf(k));
    assert.equal(ours.size, 13);
    const algos = new Map(certs.flatMap((c) => [c.primary, ...c.subkeys.map((s) => s.key)]).map((k) => [k.fpr, `${k.algorithm}/${k.material.kind === "ecc" ? k.material.curve?.name : k.bits}`]));
    const wrong = [...expected].filter(([f, g]) => ours.get(f) !== g).map(([f]) => algos.get(f));
    assert.deepEqual(wrong, []);
    assert.deepEqual(Object.fromEntries(ours), Object.fromEntries(expected));
  });
});

function fprOf(gpg: GpgHome, who: string): string {
  return gpg.colons(['--list-keys', who]).find((r) => r[0] === 'fpr')![9];
}
