/** monkeysphere-host import-key and show-keys: every key format and algorithm, what gpg sees, the store's files. */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GpgHome } from '../helpers/gpg.js';
import { keygenFingerprint, ok, Scratch, type SshKeyKind } from '../ssh/tools.js';
import { colons, esc, HostEnv, T0 } from './harness.js';

const scratch = new Scratch();
after(() => scratch.cleanup());

describe('import-key', () => {
  const kinds: SshKeyKind[] = ['ed25519', 'rsa', 'ecdsa256', 'ecdsa384', 'ecdsa521'];
  for (const kind of kinds) {
    test(`${kind} host key: the certificate's SSH key line equals the .pub file`, async (t) => {
      const h = new HostEnv();
      t.after(() => h.cleanup());
      // Named like sshd's, as in `import-key /etc/ssh/ssh_host_ed25519_key ssh://host.example.org`.
      const file = join(h.dir, `ssh_host_${kind}_key`);
      const made = scratch.sshKeygen(kind);
      copyFileSync(made, file);
      copyFileSync(`${made}.pub`, `${file}.pub`);
      const r = await h.ok(['import-key', file, 'ssh://host.example.org']);
      assert.match(r.stderr, /^ms: Host key imported:$/m);
      const [fpr] = h.fingerprints();
      assert.match(fpr, /^[0-9A-F]{40}$/);
      assert.match(r.text, new RegExp(`^OpenPGP fingerprint: ${fpr}$`, 'm'));
      assert.match(r.text, new RegExp(`^ssh fingerprint: \\d+ ${keygenFingerprint(`${file}.pub`).replace(/[+/]/g, '\\$&')} \\(`, 'm'));
      assert.match(r.text, /^uid {11}\[ unknown\] ssh:\/\/host\.example\.org$/m);
      // The store: 0700 directory, 0600 key file; the public file is armored and public only.
      assert.equal(statSync(h.keysDir).mode & 0o777, 0o700);
      assert.equal(statSync(join(h.keysDir, `${fpr}.pgp`)).mode & 0o777, 0o600);
      const pub = readFileSync(h.pubFile, 'utf8');
      assert.match(pub, /^-----BEGIN PGP PUBLIC KEY BLOCK-----\n/);
      const gpg = h.gpgWithPubFile();
      try {
        assert.doesNotMatch(gpg.ok(['--list-packets'], Buffer.from(pub)).stdout, /secret key packet/);
        assert.equal(gpg.ok(['--export-ssh-key', `${fpr}!`]).stdout.split(' ').slice(0, 2).join(' '), scratch.pubLine(made));
        const rows = colons(gpg, fpr);
        assert.equal(rows.find((row) => row[0] === 'pub')![5], String(T0));
        assert.deepEqual(
          rows.filter((row) => row[0] === 'uid').map((row) => row[9]),
          [esc('ssh://host.example.org')],
        );
      } finally {
        gpg.cleanup();
      }
    });
  }

  test('PEM, PKCS#8 and SEC1 from stdin; a TLS key as https://', async (t) => {
    const h = new HostEnv();
    t.after(() => h.cleanup());
    await h.ok(['import', '-', 'ssh://pem.example.org'], { stdin: readFileSync(scratch.sshKeygen('rsa', { format: 'PEM' })) });
    h.now += 1;
    await h.ok(['i', '-', 'ssh://sec1.example.org'], { stdin: readFileSync(scratch.openssl('sec1')) });
    h.now += 1;
    const tlsKey = scratch.path('tls.key');
    ok('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', tlsKey, '-subj', '/CN=www.example.org', '-out', scratch.path('tls.csr')]);
    await h.ok(['import-key', tlsKey, 'https://www.example.org']);
    assert.equal(h.fingerprints().length, 3);
    const gpg = h.gpgWithPubFile();
    try {
      const uids = gpg.colons(['--list-keys']).filter((r) => r[0] === 'uid').map((r) => r[9]);
      assert.deepEqual(uids.sort(), [esc('https://www.example.org'), esc('ssh://pem.example.org'), esc('ssh://sec1.example.org')]);
    } finally {
      gpg.cleanup();
    }
  });

  test('a relative path is read from the working directory', async (t) => {
    const h = new HostEnv();
    t.after(() => h.cleanup());
    copyFileSync(scratch.sshKeygen('ed25519'), join(h.dir, 'rel_key'));
    await h.ok(['import-key', 'rel_key', 'ssh://rel.example.org'], { cwd: h.dir });
    assert.equal(h.fingerprints().length, 1);
  });

  test('a passphrase-protected key: with --passphrase-file or MONKEYSPHERE_PASSPHRASE_FILE', async (t) => {
    const h = new HostEnv();
    t.after(() => h.cleanup());
    const file = scratch.sshKeygen('ed25519', { passphrase: 'hunter2' });
    const pw = scratch.path('host-pw');
    writeFileSync(pw, 'hunter2\n');
    await h.ok(['import-key', '--passphrase-file', pw, file, 'ssh://a.example.org']);
    const file2 = scratch.sshKeygen('rsa', { passphrase: 'hunter2' });
    h.now += 1;
    await h.ok(['import-key', file2, 'ssh://b.example.org'], { env: { MONKEYSPHERE_PASSPHRASE_FILE: pw } });
    assert.equal(h.fingerprints().length, 2);
  });

  test("migration: an OpenPGP secret key (the original's GnuPG host keyring) keeps its fingerprint", async (t) => {
    const h = new HostEnv();
    t.after(() => h.cleanup());
    const gpg = new GpgHome(T0 - 1000);
    try {
      gpg.ok(['--quick-gen-key', 'ssh://old.example.org', 'rsa2048', 'auth', 'never']);
      const fpr = gpg.colons(['--list-keys']).find((r) => r[0] === 'fpr')![9];
      await h.ok(['import-key', '-', 'ssh://new.example.org'], { stdin: gpg.ok(['--armor', '--export-secret-keys', fpr]).stdoutBytes });
      assert.deepEqual(h.fingerprints(), [fpr]);
      const show = await h.ok(['show-keys']);
      assert.match(show.text, /ssh:\/\/old\.example\.org/);
      assert.match(show.text, /ssh:\/\/new\.example\.org/);
    } finally {
      gpg.cleanup();
    }
  });
});

describe('show-keys', () => {
  const h = new HostEnv();
  after(() => h.cleanup());
  const keyA = scratch.sshKeygen('ed25519');
  const keyB = scratch.sshKeygen('rsa');
  let fprA = '';
  let fprB = '';

  test('lists every key (blank line between), or those named by fingerprint suffix, with every alias', async () => {
    await h.ok(['import-key', keyA, 'ssh://a.example.org']);
    fprA = h.fingerprints()[0];
    h.now += 10;
    await h.ok(['import-key', keyB, 'ssh://b.example.org']);
    fprB = h.fingerprints().find((f) => f !== fprA)!;
    const all = await h.ok(['show-keys']);
    const blocks = all.text.trimEnd().split('\n\n');
    assert.equal(blocks.length, 2);
    for (const alias of ['show-keys', 'show-key', 'show', 's']) {
      assert.equal((await h.ok([alias, '--all'])).text, all.text);
    }
    const one = await h.ok(['s', fprA.slice(-8)]);
    assert.match(one.text, new RegExp(`^pub   ed25519 2023-01-15 \\[CA\\]\\n      ${fprA}\\n`));
    assert.doesNotMatch(one.text, /b\.example\.org/);
    assert.equal((await h.ok(['s', `0x${fprA.slice(-16).toLowerCase()}`])).text, one.text);
    const both = await h.ok(['s', fprB, fprA.slice(-12)]);
    assert.match(both.text, /rsa2048/);
    assert.match(both.text, /ed25519/);
  });
});
