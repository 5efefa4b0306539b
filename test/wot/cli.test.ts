/**
 * monkeysphere-wot run in-process: every subcommand on the net2 web of the anchors doc
 * (real packets), text and JSON output, exit codes, --gnupg against a throwaway GnuPG
 * home, the verification cache, and usage and input errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/cli/monkeysphere-wot.js';
import { armor } from '../../src/openpgp/armor.js';
import { GpgHome } from '../helpers/gpg.js';
import { buildWeb, type GeneratedWeb, gpgDomainRegex } from '../helpers/webgen.js';
import { runCli } from '../helpers/run-cli.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  const r = await runCli(main, argv, { env: { HOME: dir, ...env }, cwd: dir });
  return { code: r.code, out: r.text, err: r.stderr };
}

let dir: string;
let web: GeneratedWeb;
let ring: string;
let armored: string;
let trust: string;
const fpr = (name: string) => web.keys.find((k) => k.name === name)!.fpr;
const uid = (name: string) => web.keys.find((k) => k.name === name)!.uids[0].text;
let base: string[];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ms-wot-cli-'));
  // net2 (anchors doc §2.3): alice tsigns carol 2/120 scoped to example.org; carol tsigns
  // henry 1/120 unscoped; henry certifies ivan@other.org; carol certifies gina@EXAMPLE.ORG.
  web = buildWeb({
    keys: [
      { name: 'alice', uids: ['alice <alice@example.com>'], ownertrust: 6 },
      { name: 'carol', uids: ['carol <carol@example.org>'] },
      { name: 'henry', uids: ['henry <henry@example.org>'] },
      { name: 'ivan', uids: ['ivan <ivan@other.org>'] },
      { name: 'gina', uids: ['gina <gina@EXAMPLE.ORG>'] },
      { name: 'bob', uids: ['bob <bob@example.com>', 'Bob Two <bob@example.net>'], ownertrust: 4 },
    ],
    certs: [
      { issuer: 'alice', target: 'carol', tsig: [2, 120], regex: gpgDomainRegex('example.org') },
      { issuer: 'carol', target: 'henry', tsig: [1, 120] },
      { issuer: 'henry', target: 'ivan' },
      { issuer: 'carol', target: 'gina' },
      { issuer: 'alice', target: 'bob', uid: 1, exportable: false },
    ],
  });
  ring = join(dir, 'ring.pgp');
  armored = join(dir, 'ring.asc');
  trust = join(dir, 'ownertrust.txt');
  writeFileSync(ring, web.bytes);
  writeFileSync(armored, armor('PUBLIC KEY BLOCK', web.bytes));
  writeFileSync(trust, `# exported\n${web.ownertrustText}`);
  base = ['--keyring', ring, '--ownertrust', trust, '--at', '2023-01-15', '--no-cache'];
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('monkeysphere-wot subcommands', () => {
  it('authenticate: a valid binding exits 0 and shows its path', async () => {
    const r = await run([...base, 'authenticate', uid('henry'), fpr('henry')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\[✓\] [0-9A-F]{40} "henry <henry@example.org>": fully valid \(f\)/);
    assert.match(r.out, /Path 1 of 1:/);
    assert.match(r.out, /trust-signed \(depth 2, amount 120\) on 2022-01-31/);
    assert.equal(r.err, '');
  });

  it('authenticate: ivan is refused (exit 1) with the stricter-than-GnuPG reason; --model gnupg accepts', async () => {
    const r = await run([...base, 'authenticate', uid('ivan'), fpr('ivan')]);
    assert.equal(r.code, 1);
    assert.match(r.out, /"ivan <ivan@other.org>": not valid \(-\)/);
    assert.match(r.out, /GnuPG 2\.2 would rate it f/);
    assert.match(r.out, /scope example.org inherited down the delegation chain does not match/);
    const g = await run([...base, '--model', 'gnupg', 'authenticate', uid('ivan'), fpr('ivan')]);
    assert.equal(g.code, 0);
  });

  it('authenticate: an unknown key or user ID is an answer (exit 1), not an error', async () => {
    const r = await run([...base, 'authenticate', 'nobody', fpr('henry')]);
    assert.equal(r.code, 1);
    assert.match(r.out, /the key has no such user ID/);
    const k = await run([...base, 'authenticate', 'x', '00'.repeat(20)]);
    assert.equal(k.code, 1);
    assert.match(k.out, /the key is not in the keyring/);
  });

  it('list --json: every user ID of every certificate with fingerprint, userId, validity', async () => {
    const r = await run([...base, '--json', 'list']);
    assert.equal(r.code, 0);
    const rows = JSON.parse(r.out) as Array<{ fingerprint: string; userId: string; validity: string }>;
    const expected = web.keys.flatMap((k) => k.uids.map((u) => u.text)).sort();
    assert.deepEqual(rows.map((x) => x.userId).sort(), expected);
    const by = Object.fromEntries(rows.map((x) => [x.userId, x.validity]));
    assert.deepEqual(by, {
      'alice <alice@example.com>': 'u',
      'carol <carol@example.org>': 'f',
      'henry <henry@example.org>': 'f',
      'ivan <ivan@other.org>': '-',
      'gina <gina@EXAMPLE.ORG>': 'f',
      'bob <bob@example.com>': '-',
      'Bob Two <bob@example.net>': 'f',
    });
    for (const x of rows) assert.match(x.fingerprint, /^[0-9A-F]{40}$/);
  });

  it('list PATTERN filters case-insensitively, reads armored keyrings, and exits 0', async () => {
    const r = await run(['--keyring', armored, '--ownertrust', trust, '--at', '2023-01-15', '--no-cache', 'list', 'EXAMPLE.ORG']);
    assert.equal(r.code, 0);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.ok(lines.every((l) => /example\.org/i.test(l)));
    assert.match(r.out, /"gina <gina@EXAMPLE.ORG>": fully valid \(f\)/);
  });

  it('lookup: keys carrying the user ID; exit 1 when none does', async () => {
    const r = await run([...base, 'lookup', uid('gina')]);
    assert.equal(r.code, 0);
    assert.match(r.out, /"gina <gina@EXAMPLE.ORG>": fully valid \(f\)/);
    const none = await run([...base, 'lookup', 'nobody <no@where>']);
    assert.equal(none.code, 1);
    assert.match(none.out, /no key carries the user ID "nobody <no@where>"/);
  });

  it('identify: every user ID of a key, by fingerprint or key ID; exit 0 if any is valid', async () => {
    const r = await run([...base, 'identify', `0x${fpr('bob').slice(-16)}`]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /"bob <bob@example.com>": not valid \(-\)/);
    assert.match(r.out, /"Bob Two <bob@example.net>": fully valid \(f\)/);
    assert.match(r.out, /certified on 2022-01-31, local/);
  });

  it('path: checks each certification along a given path', async () => {
    const good = await run([...base, 'path', fpr('alice'), fpr('carol'), fpr('henry'), uid('henry')]);
    assert.equal(good.code, 0, good.out);
    assert.match(good.out, /every certification counts/);
    assert.match(good.out, /✓ [0-9A-F]{40} → [0-9A-F]{40} "carol <carol@example.org>": counted: issued by an ultimately trusted root/);
    const bad = await run([...base, 'path', fpr('alice'), fpr('carol'), fpr('henry'), fpr('ivan'), uid('ivan')]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /broken/);
    assert.match(bad.out, /✗ [0-9A-F]{40} → [0-9A-F]{40} "ivan <ivan@other.org>": scope example.org inherited/);
    const notRoot = await run([...base, '--json', 'path', fpr('carol'), fpr('henry'), uid('henry')]);
    assert.equal(notRoot.code, 1);
    const json = JSON.parse(notRoot.out) as { firstIsRoot: boolean; pathHolds: boolean; hops: Array<{ verdict: { code: string; message: string } }> };
    assert.equal(json.firstIsRoot, false);
    assert.equal(json.pathHolds, false);
    assert.equal(json.hops[0].verdict.code, 'counted');
  });

  it('authenticate --json prints the explanation for programs', async () => {
    const r = await run([...base, '--json', 'authenticate', uid('ivan'), fpr('ivan')]);
    assert.equal(r.code, 1);
    const [e] = JSON.parse(r.out) as Array<{ validity: string; gnupgValidity: string; reasons: Array<{ code: string; message: string }> }>;
    assert.equal(e.validity, '-');
    assert.equal(e.gnupgValidity, 'f');
    assert.ok(e.reasons.some((x) => x.code === 'stricter-than-gnupg' && x.message.length > 0));
  });

  it('--help reads like a manual page', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    for (const s of ['Usage: monkeysphere-wot', 'authenticate', 'Exit status:', '--marginals-needed', '--gnupg', 'Examples:']) assert.ok(r.out.includes(s), s);
  });
});

describe('errors', () => {
  it('usage errors exit 2', async () => {
    assert.equal((await run([...base, '--bogus', 'list'])).code, 2);
    assert.equal((await run([...base, 'authenticate', 'only-one-arg'])).code, 2);
    const t = await run([...base.slice(0, 4), '--at', 'yesterday-ish', 'list']);
    assert.equal(t.code, 2);
    assert.match(t.err, /^monkeysphere-wot: error: --at is not a time: "yesterday-ish"/m);
    assert.equal((await run([...base, '--marginals-needed', '1', 'list'])).code, 2);
    assert.equal((await run(['--no-cache', 'list'])).code, 2);
    assert.equal((await run([...base, 'authenticate', 'x', 'not-hex'])).code, 2);
    // A short key ID is too easily forged to name a root: refused here, ignored in gpg.conf (as gpg does).
    const short = await run([...base, '--root', fpr('alice').slice(-8), 'list']);
    assert.equal(short.code, 2);
    assert.match(short.err, /not a fingerprint or long key ID/);
  });

  it("a long key ID names a root, in gpg.conf's trusted-key as on the command line", async () => {
    const gpg = new GpgHome(web.now, `trusted-key ${fpr('alice').slice(-16)}\n`);
    try {
      gpg.ok(['--import'], web.bytes);
      const r = await run(['--gnupg', gpg.dir, '--at', '2023-01-15', '--no-cache', '--json', 'list']);
      assert.equal(r.code, 0, r.err);
      assert.ok((JSON.parse(r.out) as Array<{ fingerprint: string; validity: string }>).some((b) => b.fingerprint === fpr('alice') && b.validity === 'u'));
    } finally {
      gpg.cleanup();
    }
  });


  it('bad input exits 3', async () => {
    const missing = await run(['--keyring', join(dir, 'nope.pgp'), '--no-cache', 'list']);
    assert.equal(missing.code, 3);
    assert.match(missing.err, /cannot read keyring/);
    assert.match(missing.err, /^monkeysphere-wot: code: MS_WOT_READ$/m, 'the stable code, listed in docs/errors.md');
    const junk = join(dir, 'junk.asc');
    writeFileSync(junk, 'this is not a key\n');
    assert.equal((await run(['--keyring', junk, '--no-cache', 'list'])).code, 3);
    const badTrust = join(dir, 'bad-trust.txt');
    writeFileSync(badTrust, 'ABC:6:\n');
    const r = await run(['--keyring', ring, '--ownertrust', badTrust, '--no-cache', 'list']);
    assert.equal(r.code, 3);
    assert.match(r.err, /bad-trust\.txt:1: not an ownertrust line/);
  });
});

describe('verification cache', () => {
  it('a second run verifies nothing it has seen', async () => {
    const cache = join(dir, 'cache', 'wot.sqlite');
    const args = (keyring: string) => ['--keyring', keyring, '--ownertrust', trust, '--at', '2023-01-15', '--cache', cache, 'list'];
    const first = await run(args(ring), { MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' });
    assert.equal(first.code, 0, first.err);
    const m1 = /(\d+) signatures verified, (\d+) from the cache/.exec(first.err);
    assert.ok(m1 && Number(m1[1]) > 0, first.err);
    // The same certificates in other bytes (each twice) are parsed again: the cache answers.
    const twice = join(dir, 'twice.pgp');
    writeFileSync(twice, Buffer.concat([web.bytes, web.bytes]));
    const second = await run(args(twice), { MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' });
    const m2 = /(\d+) signatures verified, (\d+) from the cache/.exec(second.err);
    assert.ok(m2, second.err);
    assert.equal(Number(m2[1]), 0);
    assert.equal(Number(m2[2]), Number(m1[1]) + Number(m1[2]));
    assert.equal(second.out, first.out);
  });

  it('the default cache lives under $XDG_CACHE_HOME/monkeysphere', async () => {
    const xdg = join(dir, 'xdg');
    const r = await run(['--keyring', ring, '--ownertrust', trust, '--at', '2023-01-15', 'list'], { XDG_CACHE_HOME: xdg });
    assert.equal(r.code, 0, r.err);
    assert.ok((await import('node:fs')).existsSync(join(xdg, 'monkeysphere', 'wot-verify.sqlite')));
  });
});

describe('--gnupg', () => {
  it("reads gpg's keyring, local signatures, ownertrust and gpg.conf, and agrees with gpg", async () => {
    const gpg = new GpgHome(web.now, 'marginals-needed 2\nmax-cert-depth 4\n');
    try {
      gpg.ok(['--import-options', 'import-local-sigs', '--import'], web.bytes);
      gpg.ok(['--import-ownertrust'], web.ownertrustText);
      gpg.ok(['--check-trustdb']);
      const letters = new Map<string, string>();
      for (const f of gpg.colons(['--list-keys'])) if (f[0] === 'uid') letters.set(f[9], f[1]);
      const r = await run(['--gnupg', gpg.dir, '--at', '2023-01-15', '--no-cache', '--model', 'gnupg', '--json', 'list']);
      assert.equal(r.code, 0, r.err);
      const rows = JSON.parse(r.out) as Array<{ userId: string; validity: string }>;
      assert.equal(rows.length, letters.size);
      for (const row of rows) assert.equal(row.validity, letters.get(row.userId), row.userId);
      // The local certification of Bob Two survived the export.
      assert.equal(letters.get('Bob Two <bob@example.net>'), 'f');
    } finally {
      gpg.cleanup();
    }
  });

  it('trust-model classic (GnuPG 1): trust signatures delegate nothing, and gpg agrees on every user ID', async () => {
    const gpg = new GpgHome(web.now, 'trust-model classic\n');
    try {
      gpg.ok(['--import-options', 'import-local-sigs', '--import'], web.bytes);
      gpg.ok(['--import-ownertrust'], web.ownertrustText);
      gpg.ok(['--check-trustdb']);
      const letters = new Map<string, string>();
      for (const f of gpg.colons(['--list-keys'])) if (f[0] === 'uid') letters.set(f[9], f[1]);
      for (const model of ['gnupg', 'strict']) {
        const r = await run(['--gnupg', gpg.dir, '--at', '2023-01-15', '--no-cache', '--model', model, '--json', 'list']);
        assert.equal(r.code, 0, r.err);
        const rows = JSON.parse(r.out) as Array<{ userId: string; validity: string }>;
        assert.equal(rows.length, letters.size);
        for (const row of rows) assert.equal(row.validity, letters.get(row.userId), `${model}: ${row.userId}`);
      }
      // carol's trust signature made henry (and, in the gnupg model, ivan) valid under pgp; not under classic.
      assert.equal(letters.get('carol <carol@example.org>'), 'f');
      assert.notEqual(letters.get('henry <henry@example.org>'), 'f');
      // One cache shared with a pgp-model home: each model gets its own answer.
      const cache = join(dir, 'classic-cache.sqlite');
      const pgp = new GpgHome(web.now);
      try {
        pgp.ok(['--import-options', 'import-local-sigs', '--import'], web.bytes);
        pgp.ok(['--import-ownertrust'], web.ownertrustText);
        const viaPgp = await run(['--gnupg', pgp.dir, '--at', '2023-01-15', '--cache', cache, '--json', 'list', 'henry']);
        assert.equal((JSON.parse(viaPgp.out) as Array<{ validity: string }>)[0].validity, 'f');
      } finally {
        pgp.cleanup();
      }
      const viaClassic = await run(['--gnupg', gpg.dir, '--at', '2023-01-15', '--cache', cache, '--json', 'list', 'henry']);
      assert.notEqual((JSON.parse(viaClassic.out) as Array<{ validity: string }>)[0].validity, 'f');
    } finally {
      gpg.cleanup();
    }
  });

  it('a second run over an unchanged GnuPG home reads the stored result; an import is seen at once', async () => {
    const gpg = new GpgHome(web.now);
    try {
      gpg.ok(['--import'], web.bytes);
      gpg.ok(['--import-ownertrust'], web.ownertrustText);
      const cache = join(dir, 'gnupg-cache.sqlite');
      const args = ['--gnupg', gpg.dir, '--at', '2023-01-15', '--cache', cache, '--json', 'list'];
      const first = await run(args, { MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' });
      assert.equal(first.code, 0, first.err);
      assert.match(first.err, /signatures verified/);
      const again = await run(args, { MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' });
      assert.match(again.err, /the stored result holds/);
      assert.equal(again.out, first.out);
      // A new key in the keyring changes the keybox: parsed again, and listed.
      const extra = buildWeb({ keys: [{ name: 'zoe', uids: ['zoe <zoe@example.org>'] }], certs: [] });
      gpg.ok(['--import'], extra.bytes);
      const after = await run(args, { MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' });
      assert.doesNotMatch(after.err, /stored result|snapshot/);
      assert.ok((JSON.parse(after.out) as Array<{ userId: string }>).some((b) => b.userId === 'zoe <zoe@example.org>'));
    } finally {
      gpg.cleanup();
    }
  });

  it('a home that reads another keyring is exported every time: a change there is seen', async () => {
    const extraRing = join(dir, 'extra-keyring.gpg');
    writeFileSync(extraRing, '');
    const gpg = new GpgHome(web.now, `keyring ${extraRing}\n`);
    try {
      gpg.ok(['--import'], web.bytes);
      gpg.ok(['--import-ownertrust'], web.ownertrustText);
      const args = ['--gnupg', gpg.dir, '--at', '2023-01-15', '--cache', join(dir, 'extra-cache.sqlite'), '--json', 'list'];
      assert.equal((await run(args)).code, 0);
      const extra = buildWeb({ keys: [{ name: 'yves', uids: ['yves <yves@example.org>'] }], certs: [] });
      gpg.ok(['--no-default-keyring', '--keyring', extraRing, '--import'], extra.bytes);
      const after = await run(args, { MONKEYSPHERE_LOG_LEVEL: 'VERBOSE' });
      assert.doesNotMatch(after.err, /stored result|snapshot/, 'pubring.kbx is unchanged, but the export is not');
      assert.ok((JSON.parse(after.out) as Array<{ userId: string }>).some((b) => b.userId === 'yves <yves@example.org>'));
    } finally {
      gpg.cleanup();
    }
  });

  it('refuses trust models it does not compute (exit 3) and a missing gpg home (exit 4)', async () => {
    const gpg = new GpgHome(web.now, 'trust-model always\n');
    try {
      gpg.ok(['--import'], web.bytes);
      const r = await run(['--gnupg', gpg.dir, '--no-cache', 'list']);
      assert.equal(r.code, 3, r.err);
      assert.match(r.err, /trust-model always; only the pgp and classic models are computed/);
    } finally {
      gpg.cleanup();
    }
    const none = await run(['--gnupg', join(dir, 'no-such-home'), '--no-cache', 'list'], { PATH: '/nonexistent' });
    assert.equal(none.code, 4);
  });
});
