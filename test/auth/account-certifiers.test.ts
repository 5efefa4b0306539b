/**
 * Chained trust specific to an account: `~/.monkeysphere/authorized_certifiers` names
 * identity certifiers (add-id-certifier's options) that count for that account only. Bob,
 * certified only by Carol, logs in to root (which names Carol) through a real sshd, and
 * gets nothing on another account that lists him but does not name her; a domain limits
 * her as it limits a system certifier; the system's certifiers still apply; a bad line is
 * reported and grants nothing.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAccountCertifiers } from '../../src/auth/account-certifiers.js';
import { AuthServer, ensureBuilt, MODES, SHARED_BASE } from './harness.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { SigType } from '../../src/openpgp/signature.js';
import { CREATED, Person } from './pki.js';

const BOB = 'Bob <bob@example.net>';
const DAVE = 'Dave <dave@example.org>';
const ERIN = 'Erin <erin@example.net>';

describe('account certifiers', () => {
  // Outside /root: nobody must reach its files.
  const server = new AuthServer({}, { base: SHARED_BASE });
  // Per-account files: %u picks root's or nobody's (both readable by their account).
  const dir = (user: string) => join(server.home, user);
  server.env.MONKEYSPHERE_AUTHORIZED_USER_IDS = join(server.home, '%u', 'authorized_user_ids');
  server.env.MONKEYSPHERE_AUTHORIZED_CERTIFIERS = join(server.home, '%u', 'authorized_certifiers');
  const admin = new Person(['Admin <admin@example.net>']);
  const carol = new Person(['Carol <carol@example.net>']);
  const bob = new Person([BOB]).certifiedBy(carol);
  const dave = new Person([DAVE]).certifiedBy(carol);
  const erin = new Person([ERIN]).certifiedBy(admin);
  const write = (user: string, file: string, text: string) => {
    mkdirSync(dir(user), { recursive: true, mode: 0o755 });
    chmodSync(dir(user), 0o755);
    writeFileSync(join(dir(user), file), text);
    chmodSync(join(dir(user), file), 0o644);
  };
  const keysOf = (user: string) => {
    const f = join(server.dataDir, 'authorized_keys', user);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  };

  before(async () => {
    ensureBuilt();
    mkdirSync(SHARED_BASE, { recursive: true, mode: 0o755 });
    await server.ok(['setup']);
    await server.addCertifier(admin);
    for (const p of [carol, bob, dave, erin]) await server.importCert(p);
    write('root', 'authorized_user_ids', `${BOB}\n${DAVE}\n${ERIN}\n`);
    write('root', 'authorized_certifiers', `# Carol vouches for people at example.net, for root only\n-n example.net -t full ${carol.fpr}\nnot a certifier line\n`);
    write('nobody', 'authorized_user_ids', `${BOB}\n${ERIN}\n`);
  });
  after(() => {
    server.cleanup();
    for (const p of [admin, carol, bob, dave, erin]) p.cleanup();
  });

  test("update-users: Carol's certification counts for root, within her domain, and for no other account", async () => {
    const r = await server.run(['update-users', 'root', 'nobody']);
    assert.match(r.stderr, /authorized_certifiers:3: not understood: "not"/);
    const root = keysOf('root');
    assert.ok(root.includes(bob.sshKey), `Bob, certified by Carol, on root:\n${root}\n${r.stderr}`);
    assert.ok(!root.includes(dave.sshKey), 'Dave is outside her domain example.net');
    assert.ok(root.includes(erin.sshKey), 'the system certifier still applies');
    const nobody = keysOf('nobody');
    assert.ok(!nobody.includes(bob.sshKey), 'Bob gets nothing on an account that does not name Carol');
    assert.ok(nobody.includes(erin.sshKey), `Erin on nobody:\n${nobody}\n${r.stderr}`);
  });

  test('keys-for-user answers the same', async () => {
    assert.ok((await server.ok(['keys-for-user', 'root'])).stdout.includes(bob.sshKey));
    assert.ok(!(await server.ok(['keys-for-user', 'nobody'])).stdout.includes(bob.sshKey));
  });

  test('explain names the account certifier and the path through it', async () => {
    const out = (await server.ok(['explain', 'root', BOB])).stdout;
    assert.match(out, new RegExp(`account root names its own identity certifier ${carol.fpr} \\(full, depth 1, domain example\\.net\\), for this account only`));
    assert.match(out, new RegExp(`├ ${carol.fpr} "Carol <carol@example\\.net>"`));
    assert.match(out, /accepted: subkey/);
  });

  for (const mode of MODES) {
    test(`Bob logs in to root through sshd (${mode})`, async () => {
      const r = await server.login(mode, bob);
      assert.equal(r.status, 0, `${r.stderr}\n${r.sshdLog}`);
    });
  }

  test('a system-wide store never holds the account trust', async () => {
    // The precomputed bindings (what accounts without certifiers get) leave Bob unvalidated.
    const out = (await server.ok(['gpg-cmd', '--list-keys', bob.fpr])).stdout;
    assert.doesNotMatch(out, /\[\s*full\s*\].*Bob|\[ultimate\].*Bob/);
  });
});

describe('parseAccountCertifiers', () => {
  test('options in any order, comments, and lines that grant nothing', () => {
    const fpr = 'A'.repeat(40);
    const r = parseAccountCertifiers(`# comment\n\n${fpr}\n-t marginal -d 2 0x${fpr.toLowerCase()}\n-n example.org ${fpr} extra\n-t bogus ${fpr}\n-n ex*ample ${fpr}\n${fpr.slice(0, 16)}\n`);
    assert.deepEqual(
      r.certifiers.map((c) => [c.line, c.fpr, c.trust, c.depth, c.domain]),
      [
        [3, fpr, 'full', 1, undefined],
        [4, fpr, 'marginal', 2, undefined],
      ],
    );
    assert.deepEqual(
      r.problems.map((p) => p.line),
      [5, 6, 7, 8],
    );
  });
});

describe('account certifiers delegating (depth 2)', () => {
  test("a trust signature by the account's certifier makes its introducee an introducer for that account, as far as the depth allows", async () => {
    const server = new AuthServer({}, { base: SHARED_BASE });
    const admin = new Person(['Admin <admin@example.net>']);
    const carol = new Person(['Carol <carol@example.net>']);
    const dana = new Person(['Dana <dana@example.net>']);
    const gus = new Person(['Gus <gus@example.net>']).certifiedBy(dana);
    // Carol trust-signs Dana: level 1, full (amount 120).
    const danaUser = dana.cert.users[0];
    const tsig = signV4(
      { kind: 'user', primary: dana.primary, user: danaUser.packet },
      { type: SigType.GenericCert, signer: carol.primary, privateKey: carol.privateKey, hashed: [sp.created(CREATED + 86400), sp.issuerFingerprint(carol.primary), sp.trust(1, 120)] },
    );
    // After the user ID's self-signature, before the subkey.
    const afterUid = danaUser.signatures[danaUser.signatures.length - 1].packet;
    const danaCert = Buffer.concat(dana.cert.packets.flatMap((p) => (p === afterUid ? [p.raw, tsig.packet.raw] : [p.raw])));
    const home = join(server.home, 'root');
    try {
      server.env.MONKEYSPHERE_AUTHORIZED_USER_IDS = join(server.home, '%u', 'authorized_user_ids');
      server.env.MONKEYSPHERE_AUTHORIZED_CERTIFIERS = join(server.home, '%u', 'authorized_certifiers');
      mkdirSync(home, { recursive: true, mode: 0o755 });
      await server.ok(['setup']);
      await server.addCertifier(admin);
      for (const c of [carol.bytes, danaCert, gus.bytes]) await server.importCert(c);
      writeFileSync(join(home, 'authorized_user_ids'), 'Gus <gus@example.net>\n');
      writeFileSync(join(home, 'authorized_certifiers'), `-d 1 ${carol.fpr}\n`);
      assert.ok(!(await server.ok(['keys-for-user', 'root'])).stdout.includes(gus.sshKey), 'depth 1: Carol may not delegate');
      writeFileSync(join(home, 'authorized_certifiers'), `-d 2 ${carol.fpr}\n`);
      assert.ok((await server.ok(['keys-for-user', 'root'])).stdout.includes(gus.sshKey), 'depth 2: Dana, trust-signed by Carol, vouches for Gus');
      assert.match((await server.ok(['explain', 'root'])).stdout, new RegExp(`├ ${dana.fpr} "Dana <dana@example\\.net>"`));
    } finally {
      server.cleanup();
      for (const p of [admin, carol, dana, gus]) p.cleanup();
    }
  });
});
