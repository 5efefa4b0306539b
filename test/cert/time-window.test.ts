/**
 * The one definition of when a result stops holding (src/cert/time-window.ts), checked at
 * its switch points against gpg with a frozen clock: a key is still valid during its
 * expiry second and expired one second later; a certification counts until the second it
 * expires; a window's bounds are exactly where gpg's answer flips, and evaluating on either
 * side inside a window agrees with evaluating at its edges.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { evaluateKeyring } from '../../src/cert/evaluate.js';
import { timeWindow } from '../../src/cert/time-window.js';
import { Keyring } from '../../src/keyring/keyring.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import { SigType } from '../../src/openpgp/signature.js';
import { Verifier } from '../../src/verify/verifier.js';
import { buildTrustNetwork } from '../../src/wot/build.js';
import { Person } from '../auth/pki.js';
import { GpgHome } from '../helpers/gpg.js';

const homes: GpgHome[] = [];
after(() => {
  for (const h of homes) h.cleanup();
});

/** gpg's validity field of the `pub` record (or of the user ID's `uid` record) at `now`, after a trustdb check. */
function gpgValidity(certs: Buffer, now: number, opts: { ultimate?: string; uid?: string } = {}): string {
  const home = new GpgHome(now);
  homes.push(home);
  home.ok(['--import'], certs);
  if (opts.ultimate) home.ok(['--import-ownertrust'], `${opts.ultimate}:6:\n`);
  home.run(['--check-trustdb']);
  const recs = home.colons(['--list-keys']);
  if (opts.uid) return recs.find((r) => r[0] === 'uid' && r[9] === opts.uid)?.[1] ?? '?';
  return recs.find((r) => r[0] === 'pub')?.[1] ?? '?';
}

async function primaryStatus(cert: Cert, now: number): Promise<string> {
  const [ev] = await evaluateKeyring(new Keyring([cert]), { now, verifier: new Verifier() }).then((m) => [...m.values()]);
  return ev.primary.status;
}

describe('switch points, against gpg', () => {
  test('key expiry: valid during the expiry second, expired one second later; the window flips there', async () => {
    const expiresAfter = 400 * 86400;
    const p = new Person(['Expiring <e@example.net>'], { keyExpiresAfter: expiresAfter });
    const expiry = p.primary.created + expiresAfter;
    for (const [t, gpgExpired, ours] of [
      [expiry - 1, false, 'valid'],
      [expiry, false, 'valid'],
      [expiry + 1, true, 'expired'],
    ] as const) {
      assert.equal(gpgValidity(p.bytes, t) === 'e', gpgExpired, `gpg at expiry${t - expiry >= 0 ? '+' : ''}${t - expiry}`);
      assert.equal(await primaryStatus(p.cert, t), ours, `ours at expiry${t - expiry >= 0 ? '+' : ''}${t - expiry}`);
    }
    assert.equal(timeWindow([p.cert], expiry).before, expiry + 1);
    assert.equal(timeWindow([p.cert], expiry - 100).before, expiry + 1);
    assert.equal(timeWindow([p.cert], expiry + 1).after, expiry);
  });

  test('certification expiry: counts until the second it expires; the window flips there', async () => {
    const admin = new Person(['Admin <admin@example.net>']);
    const bob = new Person(['Bob <bob@example.net>']);
    const made = admin.primary.created + 86400;
    const lifetime = 100 * 86400;
    const uid = bob.cert.users[0];
    const cert = signV4(
      { kind: 'user', primary: bob.primary, user: uid.packet },
      { type: SigType.GenericCert, signer: admin.primary, privateKey: admin.privateKey, hashed: [sp.created(made), sp.issuerFingerprint(admin.primary), sp.expiresAfter(lifetime)] },
    );
    const raws = bob.cert.packets.map((p) => p.raw);
    raws.splice(raws.indexOf(uid.signatures[0].packet.raw) + 1, 0, cert.packet.raw);
    const certified = readCerts(Buffer.concat(raws)).certs[0];
    const both = Buffer.concat([admin.bytes, ...certified.packets.map((p) => p.raw)]);
    const expiry = made + lifetime;
    assert.equal(gpgValidity(both, expiry - 1, { ultimate: admin.fpr, uid: 'Bob <bob@example.net>' }), 'f');
    assert.notEqual(gpgValidity(both, expiry, { ultimate: admin.fpr, uid: 'Bob <bob@example.net>' }), 'f');
    const ring = new Keyring([admin.cert, certified]);
    const validity = async (t: number) => {
      const verifier = new Verifier();
      const evaluated = await evaluateKeyring(ring, { now: t, verifier, certifications: false });
      const { network } = await buildTrustNetwork({ evaluated, verifier }, { roots: [admin.fpr], now: t, detail: 'validity' });
      return network.validity(certified.primary.fpr, 'Bob <bob@example.net>');
    };
    assert.equal(await validity(expiry - 1), 'f');
    assert.notEqual(await validity(expiry), 'f');
    assert.equal(timeWindow(ring, expiry - 1).before, expiry);
    assert.equal(timeWindow(ring, expiry).after, expiry - 1);
  });
});
