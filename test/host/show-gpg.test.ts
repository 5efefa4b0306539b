/**
 * show-keys prints the listing 0.43 printed: gpg's `--list-keys --list-options
 * show-unusable-uids` of the host key in a fresh GnuPG home (its pubring and dashes
 * dropped), then revokers and fingerprints. Compared here with a real gpg listing of
 * the same key, through the states a host key goes through.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { GpgHome } from '../helpers/gpg.js';
import { Scratch, type SshKeyKind } from '../ssh/tools.js';
import { HostEnv, T0 } from './harness.js';

const scratch = new Scratch();
after(() => scratch.cleanup());

/** What the original's show_key printed from gpg, for the key in host_keys.pub.pgp at `at`. */
function gpgListing(h: HostEnv, fpr: string, at: number): string[] {
  const gpg = h.gpgWithPubFile(at);
  try {
    return gpg
      .ok(['--list-keys', '--list-options', 'show-unusable-uids', fpr])
      .stdout.split('\n')
      .filter((l) => l !== '' && !/^-+$/.test(l) && !l.startsWith(gpg.dir));
  } finally {
    gpg.cleanup();
  }
}

/** show-keys's lines before the revokers and fingerprints: the gpg part. */
async function ourListing(h: HostEnv): Promise<string[]> {
  const lines = (await h.ok(['show-keys'])).text.split('\n');
  return lines.slice(0, lines.findIndex((l) => l.startsWith('The following keys') || l.startsWith('OpenPGP fingerprint:')));
}

describe('show-keys prints what gpg lists', () => {
  for (const kind of ['ed25519', 'rsa'] as SshKeyKind[]) {
    test(`${kind}: fresh, with a revoked name, with a revoker, expiring, expired`, async (t) => {
      const h = new HostEnv();
      const admin = new GpgHome(T0 - 100);
      t.after(() => {
        h.cleanup();
        admin.cleanup();
      });
      const check = async (what: string) => {
        const ours = await ourListing(h);
        assert.deepEqual(ours, gpgListing(h, h.fingerprints()[0], h.now), what);
        return ours;
      };
      await h.ok(['import-key', scratch.sshKeygen(kind), 'ssh://host.example.org']);
      const fresh = await check('fresh');
      // Not a GnuPG validity: the original's fresh GnuPG home trusted no key.
      assert.ok(fresh.includes('uid           [ unknown] ssh://host.example.org'));
      assert.ok(!fresh.some((l) => /\[ {2}valid \]/.test(l)));
      h.now += 10;
      await h.ok(['add-servicename', 'ssh://b.example.org']);
      h.now += 10;
      await h.ok(['add-servicename', 'ssh://c.example.org']);
      h.now += 10;
      await h.ok(['revoke-servicename', 'ssh://c.example.org']);
      assert.ok((await check('a revoked name')).includes('uid           [ revoked] ssh://c.example.org'));
      admin.ok(['--quick-gen-key', 'Admin <admin@example.org>', 'ed25519', 'sign,cert', 'never']);
      const file = scratch.path(`admin-${kind}.asc`);
      writeFileSync(file, admin.ok(['--armor', '--export']).stdoutBytes);
      h.now += 10;
      await h.ok(['add-revoker', file]);
      await check('a designated revoker');
      h.now += 10;
      await h.ok(['set-expire', '2']);
      await check('expiring');
      h.now += 3 * 86400;
      const expired = await check('expired');
      assert.ok(expired.includes('uid           [ expired] ssh://host.example.org'));
      assert.ok(expired.includes('uid           [ revoked] ssh://c.example.org'));
    });
  }
});

describe('show-keys lists usable subkeys as gpg does', () => {
  test('a host key made by gpg with an authentication and an expiring signing subkey (a migrated 0.43 key may have them)', async (t) => {
    const h = new HostEnv();
    const maker = new GpgHome(T0 - 1000);
    t.after(() => {
      h.cleanup();
      maker.cleanup();
    });
    maker.ok(['--quick-gen-key', 'ssh://sub.example.org', 'ed25519', 'cert', 'never']);
    const fpr = maker
      .ok(['--with-colons', '--list-keys'])
      .stdout.split('\n')
      .find((l) => l.startsWith('fpr:'))!
      .split(':')[9];
    maker.ok(['--quick-add-key', fpr, 'ed25519', 'auth', 'never']);
    maker.ok(['--quick-add-key', fpr, 'ed25519', 'sign', '2y']);
    const secret = maker.ok(['--export-secret-keys', fpr]).stdoutBytes;
    await h.ok(['import-key', '-', 'ssh://sub.example.org'], { stdin: secret });
    const ours = await ourListing(h);
    assert.deepEqual(ours, gpgListing(h, fpr, h.now));
    assert.equal(ours.filter((l) => l.startsWith('sub ')).length, 2);
  });
});
