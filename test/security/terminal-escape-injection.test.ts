/**
 * Finding 11 of the security review: a user ID is anyone's choice, and ours were printed
 * raw, so ESC sequences, the 8-bit CSI, CR and bidi overrides reached the admin's
 * terminal and a newline forged an `ms:` log line. Each tool that words a user ID (or a
 * revocation reason) is run in-process on hostile certificates, and no raw control may
 * reach stdout or stderr, nor any forged line. Where gpg 2.2 escapes the same text
 * (--list-keys, colon listings) our escaping is compared with its; machine-readable
 * output (JSON) still carries the exact text.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, describe, test } from 'node:test';
import type { Io } from '../../src/cli/io.js';
import { Logger } from '../../src/cli/log.js';
import { main as wotMain } from '../../src/cli/monkeysphere-wot.js';
import { MsError } from '../../src/errors.js';
import { reportError } from '../../src/cli/run.js';
import { keyPacketFor, signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import { KeyFlag, SigType } from '../../src/openpgp/signature.js';
import { colonEscape, printable, quoted, withoutControls } from '../../src/util/printable.js';
import { AuthServer, ensureBuilt } from '../auth/harness.js';
import { CREATED, NOW, Person } from '../auth/pki.js';
import { GpgHome } from '../helpers/gpg.js';
import { HostEnv, T0 } from '../host/harness.js';
import { assertNoRawControls, assertSafe, C0_UID, FORGED, HOSTILE_UID, unescapeColon } from './terminal.js';

before(() => ensureBuilt());

/** The text gpg --list-keys prints after `uid [validity] ` for each user ID of the only key in `gpg`. */
function gpgUidLines(gpg: GpgHome, args: string[] = []): string[] {
  return gpg
    .ok(['--list-keys', ...args])
    .stdout.split('\n')
    .filter((l) => l.startsWith('uid '))
    .map((l) => l.replace(/^uid +\[[^\]]*\] /, ''));
}

/** gpg's colon-listing uid fields (field 10). */
function gpgUidFields(gpg: GpgHome, args: string[] = []): string[] {
  return gpg
    .colons(['--list-keys', ...args])
    .filter((f) => f[0] === 'uid')
    .map((f) => f[9]);
}

describe('the escaping helper (src/util/printable.ts)', () => {
  test('escapes C0, DEL, C1 and bidi controls as gpg --list-keys does for C0, and the backslash', () => {
    assert.equal(printable('a\x1b[31mb\nc\rd\x07e\x7ff\\g'), 'a\\x1b[31mb\\nc\\rd\\x07e\\x7ff\\\\g');
    assert.equal(printable('\u009b2J \u202Eabc\u202C \u2066x\u2069 \u200f \u2028'), '\\u{9b}2J \\u{202e}abc\\u{202c} \\u{2066}x\\u{2069} \\u{200f} \\u{2028}');
    assert.equal(printable('Zoë Ærø 日本 😀 <z@example.org>'), 'Zoë Ærø 日本 😀 <z@example.org>');
    assertNoRawControls(printable(HOSTILE_UID), 'printable');
  });
  test('quoted() is JSON.stringify for ordinary text and escapes what JSON leaves raw', () => {
    for (const s of ['Bob <bob@example.net>', 'a "quoted" \\ name', 'Zoë 😀']) assert.equal(quoted(s), JSON.stringify(s));
    assert.equal(quoted('\u009b\u202E'), '"\\u{9b}\\u{202e}"');
  });
  test('withoutControls() keeps backslashes (messages already quote with JSON) and makes one line of any message', () => {
    assert.equal(withoutControls('key "a\\"b": x\ny\rz\x1b'), 'key "a\\"b": x\\ny\\rz\\x1b');
  });
  test('colonEscape() is gpg es_write_sanitized with ":" (\\x3a, \\x5c, \\n…), other unsafe characters as their UTF-8 bytes', () => {
    assert.equal(colonEscape('a:b\\c\nd'), 'a\\x3ab\\x5cc\\nd');
    assert.equal(colonEscape('Zoë'), 'Zoë');
    assert.equal(colonEscape('\u009b\u202E'), '\\xc2\\x9b\\xe2\\x80\\xae');
  });
  test('the logger writes one prefixed line per message, whatever the message holds', () => {
    let err = '';
    const log = new Logger({ stderr: { write: (s: string | Uint8Array) => (err += s.toString()) } }, 'DEBUG');
    log.info(`uid  x\nms: ${FORGED}\r\x1b[2K`);
    assert.equal(err, `ms: uid  x\\nms: ${FORGED}\\r\\x1b[2K\n`);
  });
  test('error messages and hints reach the terminal escaped', () => {
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string | Uint8Array) => (err += s.toString()) }, stdin: Readable.from([]), env: {}, cwd: '/' } as Io;
    reportError('tool', io, new MsError('MS_X', `no user ID ${HOSTILE_UID}`, { hints: [`try\n${FORGED}`] }));
    assertSafe({ stdout: '', stderr: err }, 'reportError');
    assert.equal(err.split('\n').filter((l) => l !== '').length, 3);
  });
});

describe('monkeysphere-authentication', () => {
  test('import, add, list and remove a certifier with hostile user IDs: nothing raw reaches the terminal, no ms: line is forged', async () => {
    const server = new AuthServer();
    const mallory = new Person([HOSTILE_UID, C0_UID]);
    const gpg = new GpgHome(NOW);
    try {
      await server.ok(['setup']);
      gpg.ok(['--import'], mallory.bytes);

      const imported = await server.ok(['gpg-cmd', '--import'], mallory.bytes);
      assertSafe(imported, 'gpg-cmd --import');
      assert.match(imported.stderr, /^gpg: key [0-9A-F]{16}: "Mallory \\x1b\[31mRED\\x1b\[0m\\x1b\]0;pwned\\x07\\nms: .*" public key imported$/m);

      const added = await server.run(['add-id-certifier', '-'], mallory.bytes);
      assert.equal(added.status, 0, added.stderr);
      assertSafe(added, 'add-id-certifier');
      for (const line of added.stderr.trimEnd().split('\n')) assert.match(line, /^ms: /);
      assert.match(added.stderr, /^ms: uid {2}Mallory \\x1b\[31mRED\\x1b\[0m\\x1b\]0;pwned\\x07\\nms: Identity certifier added: FORGED\\r\\u\{9b\}2J\\x7f C:\\\\x1b \\u\{202e\}gnp\.exe\\u\{202c\} <mallory@evil\.example>$/m);
      assert.match(added.stderr, new RegExp(`^ms: Identity certifier added: ${mallory.fpr} \\(2 user ID\\(s\\)`, 'm'));

      // Colon listings: gpg's escaping for C0 controls, ':' and '\\' exactly; the C1 and bidi controls gpg
      // passes through raw are written as their bytes in the same \xNN form, so the field still unescapes
      // to the very user ID, as gpg's does.
      const theirs = gpgUidFields(gpg);
      const check = (fields: string[], what: string) => {
        assert.equal(fields.length, 2, what);
        assert.equal(fields[1], theirs[1], `${what}: a C0-only user ID is escaped exactly as gpg escapes it`);
        assert.deepEqual(fields.map(unescapeColon), theirs.map(unescapeColon), `${what}: unescaped, the same text as gpg's`);
        assert.deepEqual(fields.map(unescapeColon), [HOSTILE_UID, C0_UID]);
      };
      const certifiers = await server.ok(['list-id-certifiers']);
      assertSafe(certifiers, 'list-id-certifiers');
      check(
        certifiers.stdout
          .split('\n')
          .filter((l) => l.startsWith(' :'))
          .map((l) => l.slice(2).split(':')[0]),
        'list-id-certifiers',
      );
      const colons = await server.ok(['gpg-cmd', '--list-keys', '--with-colons', mallory.fpr]);
      assertSafe(colons, 'gpg-cmd --list-keys --with-colons');
      check(
        colons.stdout
          .split('\n')
          .filter((l) => l.startsWith('uid:'))
          .map((l) => l.split(':')[9]),
        'gpg-cmd --list-keys --with-colons',
      );

      // The human listing: every line is a listing line; C0 controls are escaped as gpg escapes them.
      const human = await server.ok(['gpg-cmd', '--list-keys', mallory.fpr]);
      assertSafe(human, 'gpg-cmd --list-keys');
      for (const line of human.stdout.split('\n')) assert.match(line, /^(pub |uid |sub | {6}[0-9A-F]{40}$|$)/);
      const ours = human.stdout
        .split('\n')
        .filter((l) => l.startsWith('uid '))
        .map((l) => l.replace(/^uid +\[[^\]]*\] /, ''));
      assert.equal(ours.length, 2);
      assert.equal(ours[1], gpgUidLines(gpg).find((l) => l.startsWith('Eve ')), 'a user ID with only C0 controls is printed exactly as gpg prints it');
      // Beyond gpg (which passes them through), the 8-bit CSI, bidi overrides and the backslash are escaped too.
      assert.equal(ours[0], printable(HOSTILE_UID));

      const removed = await server.run(['remove-id-certifier', mallory.fpr]);
      assert.equal(removed.status, 0, removed.stderr);
      assertSafe(removed, 'remove-id-certifier');
      for (const line of removed.stderr.trimEnd().split('\n')) assert.match(line, /^ms: /);
      assert.equal((await server.ok(['list-id-certifiers'])).stdout, '');
    } finally {
      gpg.cleanup();
      server.cleanup();
      mallory.cleanup();
    }
  });

  test('the log stays one line per message at every level, and authorized_keys output is unchanged', async () => {
    const server = new AuthServer({ MONKEYSPHERE_LOG_LEVEL: 'DEBUG' });
    const admin = new Person(['Admin <admin@example.net>']);
    const mallory = new Person([HOSTILE_UID]);
    try {
      await server.ok(['setup']);
      await server.addCertifier(admin);
      // A user listing the hostile user ID: it is never valid (not certified) and never printed raw.
      server.writeUserIds(`Bob <bob@example.net>\n`);
      await server.importCert(mallory);
      const u = await server.run(['update-users', 'root']);
      assertSafe(u, 'update-users');
      const list = await server.run(['gpg-cmd', '--list-keys']);
      assertSafe(list, 'gpg-cmd --list-keys (all)');
      const k = await server.run(['keys-for-user', 'root']);
      assertSafe(k, 'keys-for-user');
    } finally {
      server.cleanup();
      admin.cleanup();
      mallory.cleanup();
    }
  });
});

/** An unprotected OpenPGP secret key (a migrated host key) with `uids`, self-certified, certify+auth. */
function secretKeyWith(uids: string[], created: number): Buffer {
  const priv = generateKeyPairSync('ed25519').privateKey;
  const key = keyPacketFor(priv, created, { secret: true });
  const parts = [key.packet.raw];
  for (const text of uids) {
    const user = userIdPacket(text);
    const sig = signV4(
      { kind: 'user', primary: key, user },
      { type: SigType.PositiveCert, signer: key, privateKey: priv, hashed: [sp.created(created), sp.issuerFingerprint(key), sp.keyFlags(KeyFlag.Certify | KeyFlag.Authenticate)] },
    );
    parts.push(user.raw, sig.packet.raw);
  }
  return Buffer.concat(parts);
}

describe('monkeysphere-host', () => {
  test('import-key and show-keys of a host key whose user IDs are hostile', async (t) => {
    const h = new HostEnv();
    const gpg = new GpgHome(T0);
    t.after(() => {
      h.cleanup();
      gpg.cleanup();
    });
    const imported = await h.run(['import-key', '-', 'ssh://new.example.org'], { stdin: secretKeyWith([HOSTILE_UID, C0_UID], T0 - 1000) });
    assert.equal(imported.code, 0, imported.stderr);
    assertSafe({ stdout: imported.text, stderr: imported.stderr }, 'import-key');
    const show = await h.ok(['show-keys']);
    assertSafe({ stdout: show.text, stderr: show.stderr }, 'show-keys');
    for (const line of show.text.split('\n')) assert.doesNotMatch(line, new RegExp(`^(ms: )?${FORGED}`));
    const uids = show.text
      .split('\n')
      .filter((l) => l.startsWith('uid '))
      .map((l) => l.replace(/^uid +\[[^\]]*\] /, ''));
    // What gpg makes of the published certificate: the same text for the C0-only user ID.
    gpg.ok(['--import'], readFileSync(h.pubFile));
    const theirs = gpgUidLines(gpg).find((l) => l.startsWith('Eve '));
    // The primary user ID first, as gpg lists it: the service name import-key added.
    assert.deepEqual(uids, ['ssh://new.example.org', printable(HOSTILE_UID), theirs]);
    assert.equal(gpgUidLines(gpg)[0], 'ssh://new.example.org');
  });
});

describe('monkeysphere-wot', () => {
  test('every text answer escapes user IDs and revocation reasons; JSON keeps them exact', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-sec-wot-'));
    const root = new Person([C0_UID]);
    const carol = new Person([HOSTILE_UID]).certifiedBy(root);
    const mallory = new Person([`Revoked ${HOSTILE_UID}`]).certifiedBy(root);
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
      for (const p of [root, carol, mallory]) p.cleanup();
    });
    const rev = signV4(
      { kind: 'key', primary: mallory.primary },
      {
        type: SigType.KeyRevocation,
        signer: mallory.primary,
        privateKey: mallory.privateKey,
        hashed: [sp.created(CREATED + 7 * 86400), sp.issuerFingerprint(mallory.primary), sp.reason(2, `stolen\x1b]0;owned\x07\nms: ${FORGED}\u202E`)],
      },
    );
    const malloryBytes = Buffer.concat([mallory.cert.packets[0].raw, rev.packet.raw, ...mallory.cert.packets.slice(1).map((p) => p.raw)]);
    const ring = join(dir, 'ring.pgp');
    writeFileSync(ring, Buffer.concat([root.bytes, carol.bytes, malloryBytes]));
    const base = ['--keyring', ring, '--root', root.fpr, '--at', '2023-01-15', '--no-cache'];
    const run = async (argv: string[]) => {
      let out = '';
      let err = '';
      const io: Io = {
        stdout: { write: (s: string | Uint8Array) => (out += s.toString()) },
        stderr: { write: (s: string | Uint8Array) => (err += s.toString()) },
        stdin: Readable.from([]),
        env: { HOME: dir },
        cwd: dir,
      };
      const code = await wotMain(argv, io);
      return { code, stdout: out, stderr: err };
    };
    const answers = [
      await run([...base, 'list']),
      await run([...base, 'identify', carol.fpr]),
      await run([...base, 'identify', mallory.fpr]),
      await run([...base, 'lookup', HOSTILE_UID]),
      await run([...base, 'authenticate', HOSTILE_UID, carol.fpr]),
      await run([...base, 'path', root.fpr, carol.fpr, HOSTILE_UID]),
      await run([...base, 'lookup', `nobody\x1b[2J\n${FORGED}`]),
    ];
    for (const [i, a] of answers.entries()) {
      assert.ok(a.code === 0 || a.code === 1, `answer ${i}: exit ${a.code}: ${a.stderr}`);
      assertSafe(a, `monkeysphere-wot answer ${i}`);
    }
    assert.match(answers[1].stdout, /^\[✓\] [0-9A-F]{40} "Mallory \\x1b\[31mRED.*": fully valid \(f\)$/m);
    assert.match(answers[2].stdout, /the key is revoked \(since 2022-01-22\): stolen\\x1b\]0;owned\\x07\\nms: Identity certifier added: FORGED\\u\{202e\}/);
    assert.match(answers[5].stdout, /◯ [0-9A-F]{40} "Eve \\x1b\[1mbold\\x1b\[0m\\x07\\nms: .*" \(ultimately trusted root\)/);
    // JSON is for programs: the exact user IDs, as before.
    const json = await run([...base, '--json', 'list']);
    const rows = JSON.parse(json.stdout) as Array<{ userId: string }>;
    assert.deepEqual(rows.map((r) => r.userId).sort(), [C0_UID, HOSTILE_UID, `Revoked ${HOSTILE_UID}`].sort());
  });
});
