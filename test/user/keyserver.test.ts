/**
 * monkeysphere and a keyserver (an HKP stand-in on loopback): a host's certificate fetched
 * for ssh-proxycommand lands in the user's GnuPG keyring (as 0.43's --recv-keys did) and is
 * trusted only through the web of trust; a flooded certificate (CVE-2019-13050) is imported
 * without the junk, and an oversized answer is refused, both without hanging.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { main } from '../../src/cli/monkeysphere.js';
import { writeCert } from '../../src/openpgp/cert.js';
import { Person } from '../auth/pki.js';
import { runCli } from '../helpers/run-cli.js';
import { flooded, HkpStandIn } from '../security/flood.js';
import { NOW, World } from './world.js';

const HOST = 'ssh://h.example.org';

async function scene(t: import('node:test').TestContext) {
  const w = new World();
  w.ownertrust(w.alice, 5);
  const host = new Person([HOST], { authSubkey: false }).certifiedBy(w.alice, HOST);
  w.people.push(host);
  const ks = await HkpStandIn.start();
  t.after(() => ks.stop());
  t.after(() => w.cleanup());
  const env = w.env({ MONKEYSPHERE_CHECK_KEYSERVER: '', MONKEYSPHERE_KEYSERVER: ks.url });
  const run = (args: string[]) => runCli(main, args, { env });
  /** The signatures gpg lists on the host's certificate. */
  const sigCount = () => w.gpg.colons(['--list-sigs', host.fpr]).filter((f) => f[0] === 'sig').length;
  return { w, host, ks, run, sigCount };
}

test('ssh-proxycommand fetches an unknown host, imports it into the GnuPG keyring, and trusts it through Alice', async (t) => {
  const { w, host, ks, run } = await scene(t);
  ks.serve([writeCert(host.cert)]);
  const r = await run(['p', '--no-connect', 'h.example.org']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(ks.requests.some((q) => q.startsWith('index ')));
  assert.equal(w.gpg.run(['--list-keys', host.fpr]).status, 0, 'imported into the keyring');
  assert.equal(readFileSync(w.knownHosts, 'utf8'), `h.example.org ${host.sshKey} MonkeySphere2023-01-15T00:00:00\n`);
});

test('what the keyserver serves is never trusted for coming from it: an uncertified host is imported but refused', async (t) => {
  const { w, ks, run } = await scene(t);
  const stranger = new Person([HOST], { authSubkey: false });
  w.people.push(stranger);
  ks.serve([writeCert(stranger.cert)]);
  const r = await run(['p', '--no-connect', 'h.example.org']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(w.gpg.run(['--list-keys', stranger.fpr]).status, 0);
  assert.equal(readFileSync(w.knownHosts, 'utf8'), '');
  assert.match(r.stderr, /Monkeysphere found OpenPGP keys for this hostname, but none had full validity\./);
});

test('a flooded certificate is imported without the junk certifications (import-clean), and the host stays valid', async (t) => {
  const { w, host, ks, run, sigCount } = await scene(t);
  ks.serve([flooded(host.cert, HOST, 8000, NOW - 10)]);
  const r = await run(['k', 'h.example.org']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sigCount(), 2, 'the self-signature and Alice\'s certification only');
  assert.match(readFileSync(w.knownHosts, 'utf8'), /^h\.example\.org ssh-ed25519 /);
});

test('an answer larger than the bound is refused, with an error line, and the local keyring still answers', async (t) => {
  const { w, host, ks, run } = await scene(t);
  w.import(host.cert);
  ks.serve([flooded(host.cert, HOST, 30000, NOW - 10)]);
  const r = await run(['u', HOST]);
  assert.equal(r.code, 0, r.stderr);
  // CHECK_KEYSERVER defaults to true for keys-for-userid: asked, refused, answered locally.
  assert.match(r.stderr, /ms: Failure receiving keyid 0x[0-9A-F]+ from keyserver hkp:\/\/127\.0\.0\.1:\d+: .*2097152 bytes/);
  assert.equal(r.text, `${host.sshKey}\n`);
});
