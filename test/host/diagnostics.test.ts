/**
 * monkeysphere-host diagnostics: each problem an administrator must fix, found with the
 * real `sshd -T` (on a test sshd_config) and a real keyserver (SKS on loopback).
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signV4, sp } from '../../src/openpgp/build.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { dearmor } from '../../src/openpgp/armor.js';
import { SigType } from '../../src/openpgp/signature.js';
import { oldFormat, privateKeyFromPacket, publicKeyPacket } from '../../src/keytrans/index.js';
import { KeyserverClient } from '../../src/keyserver/client.js';
import { GpgHome } from '../helpers/gpg.js';
import { SksServer } from '../helpers/sks.js';
import { Scratch } from '../ssh/tools.js';
import { sshNameFor } from '../../src/host/diagnostics.js';
import { HostEnv, T0 } from './harness.js';
import { readFileSync } from 'node:fs';

const scratch = new Scratch();
after(() => scratch.cleanup());

/** A HostEnv whose sshd -T reads a config naming `hostKeys`, on host `host.example.org`. */
function diagEnv(hostKeys: string[], env: NodeJS.ProcessEnv = {}): HostEnv {
  const h = new HostEnv(env);
  const cfg = join(h.dir, 'sshd_config');
  writeFileSync(cfg, hostKeys.map((k) => `HostKey ${k}\n`).join(''));
  h.deps = {
    hostname: () => 'host.example.org',
    sshdCommand: ['sshd', '-T', '-f', cfg],
  };
  return h;
}

/** Problem lines ("! …") of a diagnostics run. */
const problems = (text: string) => text.split('\n').filter((l) => l.startsWith('! '));

describe('diagnostics', () => {
  test('no host key', async (t) => {
    const h = diagEnv([]);
    t.after(() => h.cleanup());
    const r = await h.run(['diagnostics']);
    assert.equal(r.code, 1);
    assert.deepEqual(problems(r.text), ['! No host key found.']);
    assert.match(r.text, /Recommendation: run 'monkeysphere-host import-key/);
    assert.match(r.text, /When the above 1 issue is resolved, please re-run:\n {2}monkeysphere-host diagnostics\n$/);
  });

  test("the original's GnuPG host keyring is pointed out for migration", async (t) => {
    const h = diagEnv([]);
    t.after(() => h.cleanup());
    mkdirSync(join(h.dataDir, 'host'));
    assert.match((await h.run(['d'])).text, /migrate the original's keyring .*\/host, keeping each key's fingerprint and certifications: monkeysphere-host migrate --dry-run, then monkeysphere-host migrate/);
  });

  test('a key sshd does not use, for another host name, expiring soon, uncertified; missing user; dead keyserver setting', async (t) => {
    const sshdKey = scratch.sshKeygen('ed25519');
    const h = diagEnv([sshdKey], { MONKEYSPHERE_MONKEYSPHERE_USER: 'nobody-here', MONKEYSPHERE_KEYSERVER: 'pool.sks-keyservers.net' });
    t.after(() => h.cleanup());
    await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://other.example.org']);
    h.now += 10;
    await h.ok(['set-expire', '10']);
    const r = await h.run(['diagnostics']);
    assert.equal(r.code, 1);
    const p = problems(r.text);
    assert.ok(p.includes('! No monkeysphere user found (MONKEYSPHERE_USER=nobody-here).'), p.join('\n'));
    assert.ok(p.some((l) => /KEYSERVER is pool\.sks-keyservers\.net, which no longer exists/.test(l)));
    assert.ok(p.includes('! Host key expires in less than 30 days: 2023-01-25.'));
    assert.ok(p.some((l) => /No ssh service name on host key matches this host's name \(host\.example\.org\): ssh:\/\/other\.example\.org\./.test(l)));
    assert.ok(p.some((l) => l.startsWith(`! sshd does not use this host key (its HostKey files: ${sshdKey})`)));
    assert.ok(p.some((l) => /No third-party certifications on host key \(only the local copy was checked/.test(l)));
    assert.match(r.text, /When the above 6 issues are resolved/);
    assert.match(r.text, new RegExp(`^Checking host key ${h.fingerprints()[0]}\\.\\.\\.$`, 'm'));
    // Expired a month later.
    h.now += 40 * 86400;
    assert.ok(problems((await h.run(['d'])).text).includes('! Host key is expired.'));
  });

  describe('recommends only service names add-servicename takes', () => {
    /** The `monkeysphere-host …` commands recommended, as argument lists. */
    const recommended = (text: string) => [...text.matchAll(/'monkeysphere-host ([^']+)'/g)].map((m) => m[1].split(' '));

    test('sshNameFor: a fully qualified name, lower case, or nothing', async () => {
      assert.equal(sshNameFor('vm.example.org'), 'ssh://vm.example.org');
      assert.equal(sshNameFor('VM.Example.ORG.'), 'ssh://vm.example.org');
      for (const name of ['vm', 'localhost', 'vm_1.example.org', '']) assert.equal(sshNameFor(name), undefined, name);
    });

    test('a fully qualified host name: the recommended commands succeed', async (t) => {
      const h = diagEnv([]);
      t.after(() => h.cleanup());
      h.deps.hostname = () => 'Host.Example.ORG.';
      const [importKey] = recommended((await h.run(['diagnostics'])).text);
      assert.deepEqual(importKey, ['import-key', '/etc/ssh/ssh_host_ed25519_key', 'ssh://host.example.org']);
      await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://other.example.org']);
      const r = await h.run(['diagnostics']);
      const add = recommended(r.text).find((c) => c[0] === 'add-servicename')!;
      assert.deepEqual(add, ['add-servicename', 'ssh://host.example.org']);
      h.now += 10;
      await h.ok(add);
      assert.ok(!problems((await h.run(['diagnostics'])).text).some((l) => /No ssh service name/.test(l)));
    });

    test('a host name without a domain: no name is made up from it, the admin is told to give one', async (t) => {
      const sshdKey = scratch.sshKeygen('ed25519');
      const h = diagEnv([sshdKey]);
      t.after(() => h.cleanup());
      h.deps.hostname = () => 'vm';
      let r = await h.run(['diagnostics']);
      assert.doesNotMatch(r.text, /ssh:\/\/vm\b/);
      assert.match(
        r.text,
        /Recommendation: run 'monkeysphere-host import-key \/etc\/ssh\/ssh_host_ed25519_key ssh:\/\/HOST\.DOMAIN' with this host's fully qualified name for HOST\.DOMAIN \(the system's name for it, "vm", is not fully qualified, and a service name must be\)/,
      );
      // What add-servicename would have said to the name the old recommendation made.
      const refused = await h.run(['import-key', scratch.sshKeygen('ed25519'), 'ssh://vm']);
      assert.equal(refused.code, 2);
      await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://vm.example.org']);
      r = await h.run(['diagnostics']);
      assert.doesNotMatch(r.text, /ssh:\/\/vm\b/);
      assert.ok(!problems(r.text).some((l) => /No ssh service name/.test(l)), r.text);
      assert.match(r.text, /^Note: this host's name \(vm\) is not fully qualified, so the key's ssh service names were not compared with it$/m);
      assert.match(r.text, new RegExp(`import-key ${sshdKey} ssh://HOST\\.DOMAIN' with this host's fully qualified name`));
    });
  });

  test('bad permissions on the store', async (t) => {
    const h = diagEnv([]);
    t.after(() => h.cleanup());
    await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://host.example.org']);
    chmodSync(h.keysDir, 0o755);
    assert.ok(problems((await h.run(['d'])).text).some((l) => /Bad permissions on the host key store: .*host-keys has mode 755, expected 700/.test(l)));
  });

  describe('with a keyserver', () => {
    let sks: SksServer;
    before(async () => {
      sks = await SksServer.start();
    });
    after(async () => sks.stop());

    test('not published, then out of date, then certified: everything in order', async (t) => {
      const keyFile = join(scratch.dir, 'ssh_host_ed25519_key');
      const made = scratch.sshKeygen('ed25519');
      copyFileSync(made, keyFile);
      copyFileSync(`${made}.pub`, `${keyFile}.pub`);
      const h = diagEnv([keyFile], { MONKEYSPHERE_KEYSERVER: sks.url, MONKEYSPHERE_CHECK_KEYSERVER: 'true' });
      t.after(() => h.cleanup());
      await h.ok(['import-key', keyFile, 'ssh://host.example.org']);
      const [fpr] = h.fingerprints();
      let r = await h.run(['diagnostics']);
      assert.deepEqual(problems(r.text), [
        `! Host key is not published on ${sks.url}.`,
        '! No third-party certifications on host key: clients cannot validate it through the web of trust.',
      ]);
      await h.ok(['publish-keys']);
      h.now += 10;
      await h.ok(['add-servicename', 'ssh://alias.example.org']);
      r = await h.run(['diagnostics']);
      assert.ok(problems(r.text).some((l) => l.startsWith(`! The copy on ${sks.url} is out of date`)));
      await h.ok(['publish-keys']);
      // An administrator certifies the host key and publishes the certification.
      const admin = new GpgHome(T0 - 100);
      try {
        admin.ok(['--quick-gen-key', 'Admin <admin@example.org>', 'ed25519', 'sign,cert', 'never']);
        const adminCert = readCerts(admin.ok(['--export-secret-keys']).stdoutBytes).certs[0];
        const host = readCerts(dearmor(readFileSync(h.pubFile))).certs[0];
        const uid = host.users.find((u) => u.text === 'ssh://host.example.org')!;
        const sig = signV4(
          { kind: 'user', primary: host.primary, user: uid.packet },
          { type: SigType.GenericCert, signer: adminCert.primary, privateKey: privateKeyFromPacket(adminCert.primary), hashed: [sp.issuerFingerprint(adminCert.primary), sp.created(T0 + 20)] },
        );
        await new KeyserverClient({ servers: [sks.url] }).send(Buffer.concat([publicKeyPacket(host.primary), oldFormat(uid.packet), oldFormat(sig.packet)]));
      } finally {
        admin.cleanup();
      }
      r = await h.run(['diagnostics']);
      assert.equal(r.code, 0, r.text);
      assert.match(r.text, /Everything seems to be in order!\n$/);
      assert.ok(fpr);
    });

    test('a keyserver that cannot be reached is a note, not a verdict', async (t) => {
      const h = diagEnv([], { MONKEYSPHERE_KEYSERVER: 'hkp://127.0.0.1:1', MONKEYSPHERE_CHECK_KEYSERVER: 'true' });
      t.after(() => h.cleanup());
      await h.ok(['import-key', scratch.sshKeygen('ed25519'), 'ssh://host.example.org']);
      const r = await h.run(['diagnostics']);
      assert.match(r.text, /^Note: could not check hkp:\/\/127\.0\.0\.1:1: /m);
      assert.ok(!problems(r.text).some((l) => /not published/.test(l)));
    });
  });
});
