/**
 * Finding 4 of the security review: anyone can bind any public key as a subkey of their
 * own certificate, so Mallory publishes a certificate that carries the certifier's
 * primary key as its subkey. That must not make the certifier impossible to remove
 * ("matches 2 keys" even for the full fingerprint), nor make Mallory's certificate the
 * one an admin's key ID selects. A full fingerprint names a primary key exactly; a
 * shorter ID prefers the one certificate whose primary key matches, and otherwise fails
 * listing the candidates (escaped); `gpg-cmd --delete-keys` deletes a certificate as
 * gpg does on the original's sphere keyring. Real gpg 2.2 is the oracle for the trust
 * verdicts and for which certificate a deletion by fingerprint removes.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { AuthStore } from '../../src/auth/store.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { parseKeyPacket, type KeyPacket } from '../../src/openpgp/key-packet.js';
import { encodePacket, readPacket, Tag } from '../../src/openpgp/packets.js';
import { KeyFlag, SigType } from '../../src/openpgp/signature.js';
import { AuthServer, ensureBuilt } from '../auth/harness.js';
import { CREATED, NOW, Person } from '../auth/pki.js';
import { GpgHome } from '../helpers/gpg.js';
import { assertSafe, HOSTILE_UID, unescapeColon } from './terminal.js';

const BOB = 'Bob <bob@example.net>';

before(() => ensureBuilt());

/**
 * `attacker`'s certificate with `victim` (a primary key or subkey packet, public data
 * anyone has) bound as an authentication subkey: no back-signature is needed for that.
 */
function shadowing(attacker: Person, ...victims: KeyPacket[]): Buffer {
  const parts = [attacker.bytes];
  for (const victim of victims) {
    const sub = parseKeyPacket(readPacket(encodePacket(Tag.PublicSubkey, victim.publicBody), 0));
    const bind = signV4(
      { kind: 'subkey', primary: attacker.primary, subkey: sub },
      {
        type: SigType.SubkeyBinding,
        signer: attacker.primary,
        privateKey: attacker.privateKey,
        hashed: [sp.created(CREATED + 60), sp.issuerFingerprint(attacker.primary), sp.keyFlags(KeyFlag.Authenticate)],
      },
    );
    parts.push(sub.packet.raw, bind.packet.raw);
  }
  return Buffer.concat(parts);
}

interface Scene {
  server: AuthServer;
  admin: Person;
  bob: Person;
  mallory: Person;
  /** Mallory's certificate, carrying the admin's primary key (and, when asked, the admin's subkey) as subkeys. */
  shadow: Buffer;
  done: () => void;
}

/** A server where Admin is the certifier, Bob (certified by Admin) may log in, and Mallory's shadowing certificate was imported. */
async function scene(opts: { shadowSubkeyToo?: boolean } = {}): Promise<Scene> {
  const server = new AuthServer();
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([BOB]).certifiedBy(admin);
  const mallory = new Person([HOSTILE_UID]);
  const shadow = shadowing(mallory, admin.primary, ...(opts.shadowSubkeyToo ? [admin.authPacket] : []));
  await server.ok(['setup']);
  await server.addCertifier(admin);
  await server.importCert(bob);
  server.writeUserIds(`${BOB}\n`);
  const imported = await server.ok(['gpg-cmd', '--import'], shadow);
  assertSafe(imported, 'gpg-cmd --import of the shadowing certificate');
  return {
    server,
    admin,
    bob,
    mallory,
    shadow,
    done: () => {
      server.cleanup();
      for (const p of [admin, bob, mallory]) p.cleanup();
    },
  };
}

/** The primary fingerprints in the store, but the core's. */
async function storedPrimaries(server: AuthServer): Promise<string[]> {
  const store = await AuthStore.open(join(server.dataDir, 'authentication', 'store.sqlite'), { readonly: true });
  try {
    const core = (await store.state()).coreFpr;
    const out: string[] = [];
    for await (const s of store.certs.all()) if (s.fpr !== core) out.push(s.fpr);
    return out.sort();
  } finally {
    await store.close();
  }
}

/**
 * Every binding's validity, ours and gpg's, with the store imported into gpg as the
 * original's sphere keyring (local signatures kept, the core ultimately trusted). The
 * shadowing certificate goes in last, after the certificate it shadows, as it arrived.
 */
async function verdicts(s: Scene): Promise<{ ours: Map<string, string>; gpg: Map<string, string> }> {
  const store = await AuthStore.open(join(s.server.dataDir, 'authentication', 'store.sqlite'), { readonly: true });
  const ours = new Map<string, string>();
  const first: Buffer[] = [];
  const last: Buffer[] = [];
  let core = '';
  try {
    core = (await store.state()).coreFpr!;
    for await (const c of store.certs.all()) {
      (c.fpr === s.mallory.fpr ? last : first).push(c.bytes);
      for (const u of c.cert.users) if (u.kind === 'userid') ours.set(`${c.fpr} ${u.text}`, (await store.bindingsFor(u.text)).find((r) => r.fpr === c.fpr)?.validity ?? '-');
    }
  } finally {
    await store.close();
  }
  const gpg = new GpgHome(NOW);
  try {
    gpg.ok(['--import-options', 'import-local-sigs', '--import'], Buffer.concat(first));
    if (last.length > 0) gpg.ok(['--import-options', 'import-local-sigs', '--import'], Buffer.concat(last));
    gpg.ok(['--import-ownertrust'], `${core}:6:\n`);
    gpg.ok(['--check-trustdb']);
    const theirs = new Map<string, string>();
    let fpr = '';
    let inPub = false;
    for (const f of gpg.colons(['--display-charset', 'utf-8', '--list-keys'])) {
      if (f[0] === 'pub') inPub = true;
      if (f[0] === 'sub') inPub = false;
      if (f[0] === 'fpr' && inPub) fpr = f[9];
      if (f[0] === 'uid') theirs.set(`${fpr} ${unescapeColon(f[9])}`, f[1]);
    }
    return { ours, gpg: theirs };
  } finally {
    gpg.cleanup();
  }
}

function assertSameVerdicts(v: { ours: Map<string, string>; gpg: Map<string, string> }): void {
  const rows = [...v.gpg].map(([b, l]) => `${JSON.stringify(b)}: gpg ${l}, ours ${v.ours.get(b)}`).join('\n');
  assert.equal(v.gpg.size, v.ours.size, rows);
  for (const [binding, letter] of v.gpg) assert.equal(v.ours.get(binding), letter, `validity differs for ${JSON.stringify(binding)}\n${rows}`);
}

describe('a certificate that binds the certifier’s primary key as its own subkey', () => {
  test('is stored, and changes no verdict: Bob keeps access, as gpg says', async () => {
    const s = await scene();
    try {
      // The attack is real: the store now holds two certificates carrying the admin's key.
      const listed = await s.server.ok(['gpg-cmd', '--list-keys', '--with-colons', s.admin.fpr]);
      assert.equal(listed.stdout.match(/^pub:/gm)?.length, 2);
      assert.ok((await s.server.ok(['keys-for-user', 'root'])).stdout.includes(s.bob.sshKey));
      const v = await verdicts(s);
      assert.equal(v.gpg.get(`${s.bob.fpr} ${BOB}`), 'f');
      assertSameVerdicts(v);
    } finally {
      s.done();
    }
  });

  test('remove-id-certifier with the full fingerprint removes the certifier; gpg then agrees Bob is no longer valid', async () => {
    const s = await scene();
    try {
      const r = await s.server.run(['remove-id-certifier', s.admin.fpr]);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /matches 2 keys/);
      assert.match(r.stderr, new RegExp(`^ms: pub  ${s.admin.fpr}$`, 'm'));
      assertSafe(r, 'remove-id-certifier');
      assert.equal((await s.server.ok(['list-id-certifiers'])).stdout, '');
      assert.equal((await s.server.ok(['keys-for-user', 'root'])).stdout, '');
      const v = await verdicts(s);
      assert.notEqual(v.gpg.get(`${s.bob.fpr} ${BOB}`), 'f');
      assertSameVerdicts(v);
      // Mallory's certificate was never a certifier, and the shadow is still there.
      assert.deepEqual(await storedPrimaries(s.server), [s.admin.fpr, s.bob.fpr, s.mallory.fpr].sort());
    } finally {
      s.done();
    }
  });

  const forms: Array<[string, (fpr: string) => string]> = [
    ['0x and a trailing !', (f) => `0x${f}!`],
    ['in groups of four, as gpg prints it', (f) => f.replace(/(.{4})/g, '$1 ').trim()],
    ['lower case', (f) => f.toLowerCase()],
    ['the long key ID (one primary key matches)', (f) => f.slice(-16)],
    ['the short key ID (one primary key matches)', (f) => f.slice(-8)],
  ];
  for (const [what, form] of forms) {
    test(`remove-id-certifier names the certifier by ${what}`, async () => {
      const s = await scene();
      try {
        const r = await s.server.run(['c-', form(s.admin.fpr)]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal((await s.server.ok(['list-id-certifiers'])).stdout, '');
      } finally {
        s.done();
      }
    });
  }

  test('an ID that matches only subkeys of several certificates is ambiguous: it fails, lists the candidates escaped, and changes nothing', async () => {
    const s = await scene({ shadowSubkeyToo: true });
    try {
      const before = (await s.server.ok(['list-id-certifiers'])).stdout;
      const subId = s.admin.authPacket.keyId;
      for (const argv of [
        ['remove-id-certifier', subId],
        ['gpg-cmd', '--delete-keys', subId],
      ]) {
        const r = await s.server.run(argv);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.stderr, new RegExp(`error: "${subId}" matches 2 keys`));
        assert.match(r.stderr, /code: MS_AUTH_AMBIGUOUS_KEY/);
        assert.match(r.stderr, new RegExp(`hint: ${s.admin.fpr} "Admin <admin@example.net>": its subkey ${s.admin.authPacket.fpr} matches`));
        assert.match(r.stderr, new RegExp(`hint: ${s.mallory.fpr} "Mallory \\\\x1b\\[31mRED.*": its subkey ${s.admin.authPacket.fpr} matches`));
        assert.match(r.stderr, /hint: give the full fingerprint/);
        assertSafe(r, argv.join(' '));
      }
      assert.equal((await s.server.ok(['list-id-certifiers'])).stdout, before);
      assert.deepEqual(await storedPrimaries(s.server), [s.admin.fpr, s.bob.fpr, s.mallory.fpr].sort());
      // A subkey's full fingerprint names no primary key: not found, with the certificates that carry it.
      const bySubFpr = await s.server.run(['remove-id-certifier', s.admin.authPacket.fpr]);
      assert.equal(bySubFpr.status, 3);
      assert.match(bySubFpr.stderr, new RegExp(`error: no key with the fingerprint ${s.admin.authPacket.fpr} in the store`));
      assert.match(bySubFpr.stderr, /code: MS_AUTH_NO_KEY/);
      assertSafe(bySubFpr, 'remove-id-certifier SUBKEY-FPR');
      assert.equal((await s.server.ok(['list-id-certifiers'])).stdout, before);
    } finally {
      s.done();
    }
  });
});

describe('gpg-cmd --delete-keys', () => {
  test("deletes the attacker's certificate, and only it, as gpg --delete-keys does on the sphere keyring", async () => {
    const s = await scene();
    const gpg = new GpgHome(NOW);
    try {
      gpg.ok(['--import'], Buffer.concat([s.admin.bytes, s.bob.bytes]));
      gpg.ok(['--import'], s.shadow);
      const gpgPrimaries = () =>
        gpg
          .colons(['--list-keys'])
          .filter((f, i, all) => f[0] === 'fpr' && all[i - 1][0] === 'pub')
          .map((f) => f[9])
          .sort();

      const r = await s.server.run(['gpg-cmd', '--delete-keys', s.mallory.fpr]);
      assert.equal(r.status, 0, r.stderr);
      assertSafe(r, 'gpg-cmd --delete-keys');
      gpg.ok(['--delete-keys', s.mallory.fpr]);
      assert.deepEqual(await storedPrimaries(s.server), gpgPrimaries());
      assert.deepEqual(await storedPrimaries(s.server), [s.admin.fpr, s.bob.fpr].sort());
      assert.equal((await s.server.run(['gpg-cmd', '--list-keys', s.mallory.fpr])).status, 3);
      // The certifier and Bob's access are untouched; the certifier is listed once again.
      assert.match((await s.server.ok(['list-id-certifiers'])).stdout, new RegExp(`^${s.admin.fpr}:`));
      assert.notEqual((await s.server.ok(['keys-for-user', 'root'])).stdout, '');
      assert.equal((await s.server.ok(['gpg-cmd', '--list-keys', '--with-colons', s.admin.fpr])).stdout.match(/^pub:/gm)?.length, 1);
    } finally {
      gpg.cleanup();
      s.done();
    }
  });

  test("--delete-key with the certifier's full fingerprint deletes the certifier's certificate, not the one shadowing it, as gpg does", async () => {
    const s = await scene();
    const gpg = new GpgHome(NOW);
    try {
      gpg.ok(['--import'], Buffer.concat([s.admin.bytes, s.bob.bytes]));
      gpg.ok(['--import'], s.shadow);
      const r = await s.server.run(['gpg-cmd', '--delete-key', s.admin.fpr]);
      assert.equal(r.status, 0, r.stderr);
      gpg.ok(['--delete-key', s.admin.fpr]);
      const theirs = gpg
        .colons(['--list-keys'])
        .filter((f, i, all) => f[0] === 'fpr' && all[i - 1][0] === 'pub')
        .map((f) => f[9])
        .sort();
      assert.deepEqual(await storedPrimaries(s.server), theirs);
      assert.deepEqual(theirs, [s.bob.fpr, s.mallory.fpr].sort());
      // With the certifier gone, so is Bob's access.
      assert.equal((await s.server.ok(['list-id-certifiers'])).stdout, '');
      assert.equal((await s.server.ok(['keys-for-user', 'root'])).stdout, '');
    } finally {
      gpg.cleanup();
      s.done();
    }
  });

  test("follows gpg's questions and batch rules, refuses names that are not key IDs, and never deletes the trust core", async () => {
    const s = await scene();
    try {
      s.server.env.MONKEYSPHERE_PROMPT = 'true';
      const no = await s.server.run(['gpg-cmd', '--delete-keys', s.mallory.fpr], '\n');
      assert.equal(no.status, 2);
      assert.match(no.stderr, /Delete this key from the keyring\? \(y\/N\)/);
      assert.match(no.stderr, new RegExp(`^ms: pub  ${s.mallory.fpr}$`, 'm'));
      assert.match(no.stderr, /^ms: uid {2}Mallory \\x1b\[31mRED/m);
      assert.match(no.stderr, /code: MS_AUTH_NOT_CONFIRMED/);
      assertSafe(no, 'gpg-cmd --delete-keys, declined');
      assert.ok((await storedPrimaries(s.server)).includes(s.mallory.fpr));

      // --batch: a fingerprint is enough; a key ID needs --yes (gpg: "can't do this in batch mode without --yes").
      const batchId = await s.server.run(['gpg-cmd', '--batch', '--delete-keys', s.mallory.fpr.slice(-16)]);
      assert.equal(batchId.status, 2);
      assert.match(batchId.stderr, /can't do this in batch mode without "--yes"/);
      assert.ok((await storedPrimaries(s.server)).includes(s.mallory.fpr));
      const yes = await s.server.run(['gpg-cmd', '--batch', '--yes', '--delete-keys', s.mallory.fpr.slice(-16)]);
      assert.equal(yes.status, 0, yes.stderr);
      assert.ok(!(await storedPrimaries(s.server)).includes(s.mallory.fpr));
      const bobGone = await s.server.run(['gpg-cmd', '--batch', '--delete-keys', s.bob.fpr]);
      assert.equal(bobGone.status, 0, bobGone.stderr);
      assert.deepEqual(await storedPrimaries(s.server), [s.admin.fpr]);

      s.server.env.MONKEYSPHERE_PROMPT = 'false';
      const notAnId = await s.server.run(['gpg-cmd', '--delete-keys', 'Admin']);
      assert.equal(notAnId.status, 2);
      assert.match(notAnId.stderr, /--delete-keys takes key IDs or fingerprints, not "Admin"/);
      assert.equal((await s.server.run(['gpg-cmd', '--delete-keys'])).status, 2);
      const unknown = await s.server.run(['gpg-cmd', '--delete-keys', 'DEADBEEFDEADBEEF']);
      assert.equal(unknown.status, 3);
      assert.match(unknown.stderr, /code: MS_AUTH_NO_KEY/);

      const store = await AuthStore.open(join(s.server.dataDir, 'authentication', 'store.sqlite'), { readonly: true });
      const core = (await store.state()).coreFpr!;
      await store.close();
      const coreDel = await s.server.run(['gpg-cmd', '--batch', '--yes', '--delete-keys', core]);
      assert.equal(coreDel.status, 3);
      assert.match(coreDel.stderr, /refusing to delete the trust core/);
      assert.match(coreDel.stderr, /code: MS_AUTH_GPG_CORE/);
      assert.equal((await s.server.ok(['gpg-cmd', '--list-keys', '--with-colons', core])).stdout.match(/^pub:/gm)?.length, 1);
      // --help names it.
      assert.match((await s.server.ok(['help'])).stdout, /--delete-keys/);
    } finally {
      s.done();
    }
  });
});

describe('add-id-certifier by key ID', () => {
  test('never certifies a stored certificate that only carries that key as a subkey', async () => {
    // A keyserver that has nothing (HTTP 404), so the command falls back to the store,
    // where only Mallory's certificate carries the admin's key.
    const http = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const port = (http.address() as { port: number }).port;
    const server = new AuthServer({ MONKEYSPHERE_KEYSERVER: `hkp://127.0.0.1:${port}` });
    const admin = new Person(['Admin <admin@example.net>']);
    const mallory = new Person([HOSTILE_UID]);
    try {
      await server.ok(['setup']);
      await server.importCert(shadowing(mallory, admin.primary));
      for (const id of [admin.fpr.slice(-16), admin.fpr]) {
        const r = await server.run(['add-id-certifier', id]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.stderr, /code: MS_KEYSERVER_NOT_FOUND/);
        assertSafe(r, `add-id-certifier ${id}`);
        assert.equal((await server.ok(['list-id-certifiers'])).stdout, '');
      }
    } finally {
      await new Promise<void>((r) => http.close(() => r()));
      server.cleanup();
      admin.cleanup();
      mallory.cleanup();
    }
  });
});
