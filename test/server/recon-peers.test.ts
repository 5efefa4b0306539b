/**
 * The recon membership file (SKS's format): parsing, errors naming the line, addresses of
 * every kind, and rereading when the file changes (a bad version keeps the last good list).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MsError } from '../../src/errors.js';
import { MAX_MEMBERSHIP_BYTES, MAX_PEERS, MembershipFile, normalAddress, parseMembership } from '../../src/server/recon-peers.js';

const dir = mkdtempSync(join(tmpdir(), 'ms-recon-peers-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('parseMembership', () => {
  test('host port lines, comments, blank lines, IPv4, IPv6, names, extra fields ignored', () => {
    const peers = parseMembership(
      ['# peers', '', '127.0.0.2 11370', '  keys.example.org   11370 # Jane <jane@example.org> 0x1234', '::1 11380', '[2001:db8::1] 11370', 'sks.example.net. 11370 extra words', '127.0.0.2 11370'].join('\n'),
    );
    assert.deepEqual(
      peers.map((p) => [p.host, p.port, p.line]),
      [
        ['127.0.0.2', 11370, 3],
        ['keys.example.org', 11370, 4],
        ['::1', 11380, 5],
        ['2001:db8::1', 11370, 6],
        ['sks.example.net.', 11370, 7],
      ],
    );
    assert.equal(peers[0].id, '127.0.0.2 11370');
  });

  for (const [text, line, what] of [
    ['127.0.0.1 11370\nlonely', 2, /no port/],
    ['a.example 11370\n\n127.0.0.1 port', 3, /not a port/],
    ['127.0.0.1 70000', 1, /not a port/],
    ['bad/host 11370', 1, /not an address or host name/],
  ] as const) {
    test(`a bad line is reported with its number: ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseMembership(text, 'membership'),
        (err) => {
          assert.ok(err instanceof MsError);
          assert.equal(err.code, 'MS_RECON_MEMBERSHIP');
          assert.equal(err.data.line, line);
          assert.match(err.message, new RegExp(`membership line ${line}: `));
          assert.match(err.message, what);
          return true;
        },
      );
    });
  }

  test('IPv4-mapped IPv6 addresses compare as IPv4', () => {
    assert.equal(normalAddress('::ffff:127.0.0.2'), '127.0.0.2');
    assert.equal(normalAddress('2001:DB8::1'), '2001:db8::1');
  });
});

describe('MembershipFile', () => {
  test('reread when it changes; a bad version keeps the last good list and is reported once', async () => {
    const path = join(dir, 'membership');
    writeFileSync(path, '127.0.0.2 11370\n');
    const errors: Error[] = [];
    const m = await new MembershipFile(path, { onError: (e) => errors.push(e) }).open();
    assert.deepEqual((await m.peers()).map((p) => p.id), ['127.0.0.2 11370']);
    writeFileSync(path, '127.0.0.2 11370\n127.0.0.3 11371\n');
    utimesSync(path, new Date(), new Date(Date.now() + 2000));
    assert.deepEqual((await m.peers()).map((p) => p.id), ['127.0.0.2 11370', '127.0.0.3 11371']);
    writeFileSync(path, '127.0.0.4\n');
    utimesSync(path, new Date(), new Date(Date.now() + 4000));
    assert.deepEqual((await m.peers()).map((p) => p.id), ['127.0.0.2 11370', '127.0.0.3 11371']);
    await m.peers();
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as MsError).code, 'MS_RECON_MEMBERSHIP');
    writeFileSync(path, '# none\n');
    utimesSync(path, new Date(), new Date(Date.now() + 6000));
    assert.deepEqual(await m.peers(), []);
  });

  test('incoming addresses are matched against resolved names', async () => {
    const path = join(dir, 'names');
    writeFileSync(path, 'peer.example 11370\n::1 11371\n');
    const m = await new MembershipFile(path, { resolver: async (h) => (h === 'peer.example' ? ['127.0.0.9', '::ffff:127.0.0.10'] : []) }).open();
    assert.equal((await m.peerFor('127.0.0.9'))?.id, 'peer.example 11370');
    assert.equal((await m.peerFor('::ffff:127.0.0.10'))?.id, 'peer.example 11370');
    assert.equal((await m.peerFor('::1'))?.id, '::1 11371');
    assert.equal(await m.peerFor('127.0.0.1'), undefined);
  });

  test('a missing or bad file fails at open', async () => {
    await assert.rejects(new MembershipFile(join(dir, 'absent')).open(), (e) => e instanceof MsError && e.code === 'MS_RECON_MEMBERSHIP_IO');
    writeFileSync(join(dir, 'bad'), 'x\n');
    await assert.rejects(new MembershipFile(join(dir, 'bad')).open(), (e) => e instanceof MsError && e.code === 'MS_RECON_MEMBERSHIP');
  });

  const isCode = (code: string, what: RegExp) => (e: unknown) => {
    assert.ok(e instanceof MsError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, what);
    return true;
  };

  test('a FIFO, a directory or a file over 1 MiB fails at open, naming the problem, without hanging', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(new MembershipFile(fifo).open(), isCode('MS_RECON_MEMBERSHIP_IO', /it is a FIFO, not a regular file/));
    mkdirSync(join(dir, 'adir'));
    await assert.rejects(new MembershipFile(join(dir, 'adir')).open(), isCode('MS_RECON_MEMBERSHIP_IO', /it is a directory/));
    const huge = join(dir, 'huge');
    writeFileSync(huge, '# padding\n'.repeat(MAX_MEMBERSHIP_BYTES / 10 + 1));
    await assert.rejects(new MembershipFile(huge).open(), isCode('MS_RECON_MEMBERSHIP', /is over 1048576 bytes/));
  });

  test('at most 1,000 peers; a symlink to a regular file is fine', async () => {
    const many = Array.from({ length: MAX_PEERS + 1 }, (_, i) => `127.1.${i >> 8}.${i & 255} 11370`).join('\n');
    assert.throws(() => parseMembership(many, 'm'), /line 1001: more than 1000 peers/);
    assert.equal(parseMembership(many.split('\n').slice(0, MAX_PEERS).join('\n')).length, MAX_PEERS);
    writeFileSync(join(dir, 'target'), '127.0.0.2 11370\n');
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    assert.deepEqual((await (await new MembershipFile(join(dir, 'link')).open()).peers()).map((p) => p.id), ['127.0.0.2 11370']);
  });

  test('swapped for a FIFO or a huge file while running: the last good list stays, reported once each', async () => {
    const path = join(dir, 'swapped');
    writeFileSync(path, '127.0.0.2 11370\n');
    const errors: Error[] = [];
    const m = await new MembershipFile(path, { onError: (e) => errors.push(e) }).open();
    const fifo = join(dir, 'fifo2');
    execFileSync('mkfifo', [fifo]);
    renameSync(fifo, path);
    assert.deepEqual((await m.peers()).map((p) => p.id), ['127.0.0.2 11370']);
    assert.deepEqual((await m.peers()).map((p) => p.id), ['127.0.0.2 11370']);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /FIFO/);
    rmSync(path);
    writeFileSync(path, '#\n'.repeat(MAX_MEMBERSHIP_BYTES));
    assert.deepEqual((await m.peers()).map((p) => p.id), ['127.0.0.2 11370']);
    await m.peers();
    assert.equal(errors.length, 2);
    assert.match(errors[1].message, /over 1048576 bytes/);
    rmSync(path);
    writeFileSync(path, '127.0.0.3 11370\n');
    assert.deepEqual((await m.peers()).map((p) => p.id), ['127.0.0.3 11370']);
  });
});
