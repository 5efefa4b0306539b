/**
 * v6 keys end to end (RFC 9580; made by openpgp.js, since gpg 2.2 has no v6 and so there is
 * no gpg oracle here): a v6 certifier and a v6 user with an Ed25519 authentication subkey
 * are certified, explained by monkeysphere-wot, and found by key ID (the high 64 bits of a
 * v6 fingerprint) and by fingerprint through every command that takes one. The low 64 bits
 * of a v6 fingerprint (what a v4 key ID would be) must find nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as openpgp from 'openpgp';
import { main as wotMain } from '../../src/cli/monkeysphere-wot.js';
import { main as openpgp2ssh } from '../../src/cli/openpgp2ssh.js';
import { dearmor } from '../../src/openpgp/armor.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { formatFingerprint, keyIdOf } from '../../src/openpgp/fingerprint.js';
import { AuthServer, ensureBuilt } from '../auth/harness.js';
import { runCli } from '../helpers/run-cli.js';
import { CREATED } from '../auth/pki.js';

const VERA = 'Vera Six <vera@example.org>';
const ADMIN = 'Admin Six <admin@example.org>';
const date = new Date(CREATED * 1000);

/** A v6 Ed25519 key; with `auth`, an extra Ed25519 subkey bound for authentication only. */
async function v6Key(userId: string, auth: boolean): Promise<openpgp.PrivateKey> {
  const { privateKey } = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: [parseUid(userId)],
    date,
    config: { v6Keys: true },
    subkeys: auth ? [{}, { sign: true }] : [{}],
    format: 'object',
  });
  if (!auth) return privateKey;
  // openpgp.js cannot ask for the authentication flag: rebind the second subkey with it.
  const sub = privateKey.subkeys[1];
  const sig = new openpgp.SignaturePacket();
  sig.signatureType = openpgp.enums.signature.subkeyBinding;
  sig.publicKeyAlgorithm = privateKey.keyPacket.algorithm;
  sig.hashAlgorithm = openpgp.enums.hash.sha256;
  sig.keyFlags = new Uint8Array([openpgp.enums.keyFlags.authentication]);
  sig.created = date;
  sig.issuerKeyVersion = privateKey.keyPacket.version;
  sig.issuerFingerprint = privateKey.keyPacket.getFingerprintBytes()!;
  sig.issuerKeyID = privateKey.keyPacket.getKeyID();
  await sig.sign(privateKey.keyPacket as openpgp.SecretKeyPacket, { key: privateKey.keyPacket, bind: sub.keyPacket } as never, date);
  (sub as unknown as { bindingSignatures: openpgp.SignaturePacket[] }).bindingSignatures = [sig];
  return privateKey;
}

function parseUid(text: string): { name: string; email: string } {
  const m = /^(.*) <(.*)>$/.exec(text)!;
  return { name: m[1], email: m[2] };
}

const bytesOf = (key: openpgp.Key): Buffer => dearmor(Buffer.from(key.toPublic().armor()));

async function runWot(argv: string[], home: string): Promise<{ code: number; out: string; err: string }> {
  const r = await runCli(wotMain, argv, { env: { HOME: home }, cwd: home });
  return { code: r.code, out: r.text, err: r.stderr };
}

let server: AuthServer;
let dir: string;
let admin: { bytes: Buffer; fpr: string; keyId: string };
let vera: { bytes: Buffer; fpr: string; keyId: string };

before(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'ms-v6-'));
  const adminKey = await v6Key(ADMIN, false);
  const veraKey = await v6Key(VERA, true);
  const certified = await veraKey.toPublic().signAllUsers([adminKey], new Date((CREATED + 86400) * 1000));
  const describe = (bytes: Buffer) => {
    const cert = readCerts(bytes).certs[0];
    assert.equal(cert.primary.version, 6);
    return { bytes, fpr: cert.primary.fpr, keyId: keyIdOf(cert.primary.fpr) };
  };
  admin = describe(bytesOf(adminKey));
  vera = describe(bytesOf(certified));
  assert.equal(admin.keyId, admin.fpr.slice(0, 16));
  server = new AuthServer();
  await server.ok(['setup']);
});

after(() => {
  server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const fprsIn = (bytes: Buffer): string[] => readCerts(bytes.length > 0 && bytes[0] === 0x2d ? dearmor(bytes) : bytes).certs.map((c) => c.primary.fpr);

describe('v6 certificates through monkeysphere-authentication', () => {
  test('add-id-certifier certifies a v6 certifier; its certification of a v6 user grants the authentication subkey', async () => {
    await server.ok(['add-id-certifier', '-'], admin.bytes);
    assert.match((await server.ok(['list-id-certifiers'])).stdout, new RegExp(`^${admin.fpr}:`, 'm'));
    await server.importCert(vera.bytes);
    server.writeUserIds(`${VERA}\n`);
    const keys = (await server.ok(['keys-for-user', 'root'])).stdout;
    assert.equal(keys.split('\n').filter((l) => l !== '').length, 1, keys);
    assert.match(keys, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5/m);
  });

  test('gpg-cmd --list-keys and --export find a v6 key by key ID and by fingerprint, in every typed form', async () => {
    for (const id of [vera.keyId, `0x${vera.keyId.toLowerCase()}`, vera.fpr, `0x${vera.fpr}`, formatFingerprint(vera.fpr).toLowerCase(), `${vera.keyId}!`]) {
      const listed = await server.run(['gpg-cmd', '--list-keys', '--with-colons', id]);
      assert.equal(listed.status, 0, `${id}: ${listed.stderr}`);
      assert.match(listed.stdout, new RegExp(`^fpr:+${vera.fpr}:`, 'm'), id);
      const exported = await server.run(['gpg-cmd', '--export', id]);
      assert.equal(exported.status, 0, `${id}: ${exported.stderr}`);
      assert.deepEqual(fprsIn(exported.stdoutBytes), [vera.fpr], id);
    }
    // The low 64 bits of a v6 fingerprint are not its key ID.
    const wrong = await server.run(['gpg-cmd', '--list-keys', vera.fpr.slice(-16)]);
    assert.notEqual(wrong.status, 0);
  });

  test('remove-id-certifier takes a v6 key ID and a v6 fingerprint', async () => {
    const byLowHalf = await server.run(['remove-id-certifier', admin.fpr.slice(-16)]);
    assert.notEqual(byLowHalf.status, 0, 'the low 64 bits of a v6 fingerprint name no key');
    await server.ok(['remove-id-certifier', admin.keyId]);
    assert.doesNotMatch((await server.ok(['list-id-certifiers'])).stdout, new RegExp(admin.fpr));
    assert.equal((await server.ok(['keys-for-user', 'root'])).stdout, '');
    await server.ok(['add-id-certifier', '-'], admin.bytes);
    assert.match((await server.ok(['keys-for-user', 'root'])).stdout, /^ssh-ed25519 /m);
    await server.ok(['remove-id-certifier', `0x${admin.fpr.toLowerCase()}`]);
    assert.equal((await server.ok(['keys-for-user', 'root'])).stdout, '');
    await server.ok(['add-id-certifier', '-'], admin.bytes);
  });

  test('gpg-cmd --delete-keys deletes a v6 key named by key ID', async () => {
    await server.ok(['gpg-cmd', '--batch', '--yes', '--delete-keys', vera.keyId]);
    assert.notEqual((await server.run(['gpg-cmd', '--list-keys', vera.fpr])).status, 0);
    assert.equal((await server.ok(['keys-for-user', 'root'])).stdout, '');
    await server.importCert(vera.bytes);
    await server.ok(['gpg-cmd', '--batch', '--delete-keys', vera.fpr]);
    assert.notEqual((await server.run(['gpg-cmd', '--list-keys', vera.keyId])).status, 0);
  });
});

describe('v6 certificates through monkeysphere-wot', () => {
  test('authenticate, identify and path explain a v6 binding named by key ID or fingerprint', async () => {
    const ring = join(dir, 'ring.pgp');
    const trust = join(dir, 'ownertrust.txt');
    writeFileSync(ring, Buffer.concat([admin.bytes, vera.bytes]));
    writeFileSync(trust, `${admin.fpr}:6:\n`);
    const base = ['--keyring', ring, '--ownertrust', trust, '--at', '2023-01-15', '--no-cache'];
    for (const id of [vera.fpr, vera.keyId, `0x${vera.keyId.toLowerCase()}`, formatFingerprint(vera.fpr)]) {
      const r = await runWot([...base, 'authenticate', VERA, id], dir);
      assert.equal(r.code, 0, `${id}: ${r.err}${r.out}`);
      assert.ok(r.out.includes(`${vera.fpr} "${VERA}": fully valid`), r.out);
    }
    const identify = await runWot([...base, 'identify', vera.keyId], dir);
    assert.equal(identify.code, 0, identify.err);
    assert.ok(identify.out.includes(VERA), identify.out);
    const path = await runWot([...base, 'path', admin.keyId, vera.keyId, VERA], dir);
    assert.equal(path.code, 0, path.err + path.out);
    const wrong = await runWot([...base, 'authenticate', VERA, vera.fpr.slice(-16)], dir);
    assert.notEqual(wrong.code, 0);
  });

  test('openpgp2ssh takes a v6 key by key ID, short ID (low 32 bits of the key ID), fingerprint and typed forms', async () => {
    const ssh = `${(await runCli(openpgp2ssh, [vera.fpr], { stdin: vera.bytes })).text}`;
    assert.match(ssh, /^ssh-ed25519 /, 'the primary key, Ed25519, in SSH form');
    for (const id of [vera.keyId, vera.keyId.slice(8), `0x${vera.keyId.toLowerCase()}`, formatFingerprint(vera.fpr)]) {
      const r = await runCli(openpgp2ssh, [id], { stdin: vera.bytes });
      assert.equal(r.code, 0, `${id}: ${r.stderr}`);
      assert.equal(r.text, ssh, id);
    }
  });
});
