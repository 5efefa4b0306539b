/**
 * Side by side with the original: Monkeysphere 0.43's own `monkeysphere` (from
 * ../shared/reference, run here with bash, gpg and its perl helpers) and ours, on the same
 * GnuPG home, print the same keys for keys-for-userid and write the same known_hosts lines;
 * and a known_hosts that 0.43 wrote is maintained by ours (a revoked key leaves it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/monkeysphere.js';
import { Person } from '../auth/pki.js';
import { runCli } from '../helpers/run-cli.js';
import { NOW, World } from './world.js';

const REFERENCE = new URL('../../../shared/reference/monkeysphere-0.43/', import.meta.url).pathname;
let copy: string;

before(() => {
  copy = mkdtempSync(join(tmpdir(), 'ms043-client-'));
  cpSync(REFERENCE, copy, { recursive: true });
  writeFileSync(join(copy, 'src', 'share', 'VERSION'), 'Monkeysphere 0.43\n');
  for (const tool of ['monkeysphere', 'share/keytrans', 'share/checkperms']) chmodSync(join(copy, 'src', tool), 0o755);
});

after(() => rmSync(copy, { recursive: true, force: true }));

/** Runs 0.43's `monkeysphere` as Bob (output through files: gpg's agents would hold pipes open). */
function original(w: World, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const out = join(w.home, 'o.out');
  const err = join(w.home, 'o.err');
  const fds = [openSync(out, 'w'), openSync(err, 'w')];
  const env = { ...w.env(), PATH: `${copy}/src:${copy}/src/share:${process.env.PATH}`, MONKEYSPHERE_SYSSHAREDIR: join(copy, 'src', 'share'), MONKEYSPHERE_SYSCONFIGDIR: join(copy, 'etc'),
    // Its permission walk stops at the passwd home (root's /root), so it would reach /tmp.
    MONKEYSPHERE_STRICT_MODES: 'false',
  };
  const r = spawnSync(join(copy, 'src', 'monkeysphere'), args, { env, stdio: ['ignore', fds[0], fds[1]], timeout: 120_000 });
  for (const fd of fds) closeSync(fd);
  return { status: r.status, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
}

const ours = (w: World, args: string[]) => runCli(main, args, { env: w.env() });

/** Hosts covering what process_user_id decides: valid, marginal only, revoked, a subkey, an uncertified name. */
function world() {
  const w = new World();
  const carol = new Person(['Carol <carol@example.net>']).certifiedBy(w.bob);
  const hosts = {
    valid: new Person(['ssh://valid.example.org'], { authSubkey: false }).certifiedBy(w.alice),
    rsa: new Person(['ssh://rsa.example.org'], { authSubkey: false, alg: 'rsa' }).certifiedBy(w.alice),
    marginal: new Person(['ssh://marginal.example.org'], { authSubkey: false }).certifiedBy(carol),
    revoked: new Person(['ssh://revoked.example.org'], { authSubkey: false }).certifiedBy(w.alice),
    subkey: new Person(['ssh://subkey.example.org']).certifiedBy(w.alice),
    uncertified: new Person(['ssh://uncertified.example.org'], { authSubkey: false }),
  };
  hosts.revoked.revokeKey(NOW - 60);
  w.people.push(carol, ...Object.values(hosts));
  w.import(carol.cert, ...Object.values(hosts).map((h) => h.cert));
  w.ownertrust(w.alice, 5);
  w.ownertrust(carol, 4);
  return { w, hosts };
}

const withoutDates = (text: string) => text.replace(/MonkeySphere\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/g, 'MonkeySphereDATE');

test('keys-for-userid prints what 0.43 prints, for every kind of host and for people', async (t) => {
  const { w, hosts } = world();
  t.after(() => w.cleanup());
  const userIds = [...Object.values(hosts).map((h) => h.userIds[0]), 'Alice <alice@example.org>', 'Bob <bob@example.org>', 'ssh://absent.example.org'];
  for (const uid of userIds) {
    const theirs = original(w, ['u', uid]);
    assert.equal(theirs.status, 0, theirs.stderr);
    const mine = await ours(w, ['u', uid]);
    assert.equal(mine.code, 0, mine.stderr);
    assert.equal(mine.text, theirs.stdout, uid);
  }
});

test('update-known_hosts writes the lines 0.43 writes; ours then maintains the file 0.43 wrote', async (t) => {
  const { w, hosts } = world();
  t.after(() => w.cleanup());
  const names = Object.values(hosts).map((h) => h.userIds[0].slice('ssh://'.length));
  const theirs = original(w, ['k', ...names]);
  assert.equal(theirs.status, 0, theirs.stderr);
  const written043 = readFileSync(w.knownHosts, 'utf8');
  copyFileSync(w.knownHosts, `${w.knownHosts}.043`);
  rmSync(w.knownHosts);
  assert.equal((await ours(w, ['k', ...names])).code, 0);
  assert.equal(withoutDates(readFileSync(w.knownHosts, 'utf8')), withoutDates(written043));
  // 0.43's file, then the valid host's key is revoked: ours removes the line 0.43 wrote.
  copyFileSync(`${w.knownHosts}.043`, w.knownHosts);
  w.import(hosts.valid.revokeKey(NOW - 30));
  assert.equal((await ours(w, ['k'])).code, 0);
  const after = readFileSync(w.knownHosts, 'utf8');
  assert.doesNotMatch(after, /^valid\.example\.org /m);
  assert.match(after, /^rsa\.example\.org ssh-rsa /m);
});
