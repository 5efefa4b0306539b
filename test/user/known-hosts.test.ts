/**
 * known_hosts editing (src/user/known-hosts.ts), with OpenSSH's ssh-keygen as the oracle for
 * host names, ports and hashed names.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { editKnownHosts, garbageLines, hashHostName, knownHostsHosts, knownHostsName, knowsHost, parseKnownHostsLine } from '../../src/user/known-hosts.js';
import { parseHost } from '../../src/user/hosts.js';

const KEY_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnkrISoyT7Ihbn6BnSVjl0l35BrWVWPE2UZH/7puwPb';
const KEY_B = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICw9TLxMbjbNHks08Wf8Ns3AYDkpuPzSbzn9udK0zQgW';
const MARKER = 'MonkeySphere2023-01-15T00:00:00';

/** What `ssh-keygen -F NAME -f FILE` finds: the lines it prints (hashed lines printed as stored). */
function sshKeygenFinds(text: string, name: string): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'ms-kh-'));
  try {
    writeFileSync(join(dir, 'known_hosts'), text);
    return spawnSync('ssh-keygen', ['-F', name, '-f', join(dir, 'known_hosts')]).status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('host names as ssh writes them: [host]:port for other ports than 22', () => {
  assert.equal(knownHostsName('h.example.org'), 'h.example.org');
  assert.equal(knownHostsName('h.example.org:22'), 'h.example.org');
  assert.equal(knownHostsName('h.example.org:2222'), '[h.example.org]:2222');
  assert.equal(knownHostsName('::1'), '::1');
  const t = parseHost('[h.example.org]:2222');
  assert.deepEqual([t.host, t.port, t.userId, t.knownHostsName], ['h.example.org', 2222, 'ssh://h.example.org:2222', '[h.example.org]:2222']);
  assert.equal(parseHost('h.example.org', '22').userId, 'ssh://h.example.org');
  assert.equal(parseHost('h.example.org:22').userId, 'ssh://h.example.org');
  for (const name of ['h.example.org', '[h.example.org]:2222']) {
    assert.ok(sshKeygenFinds(`${name} ${KEY_A}\n`, name), name);
  }
});

test('names that are not hosts are refused: shell metacharacters, spaces, wildcards, bad ports', () => {
  for (const bad of ['h;rm -rf /', '$(id)', 'a b', '*.example.org', '`x`', 'h|x', '', '-oProxyCommand=x', 'h..x']) {
    assert.throws(() => parseHost(bad), { code: 'MS_USER_HOST' }, bad);
  }
  assert.throws(() => parseHost('h.example.org', '0'), { code: 'MS_USER_HOST' });
  assert.throws(() => parseHost('h.example.org', '70000'), { code: 'MS_USER_HOST' });
  assert.throws(() => parseHost('h.example.org', '22;x'), { code: 'MS_USER_HOST' });
});

test('hashed names are those ssh-keygen -F finds, and are matched for removal', () => {
  const hashed = hashHostName('h.example.org');
  assert.match(hashed, /^\|1\|[A-Za-z0-9+/=]{28}\|[A-Za-z0-9+/=]{28}$/);
  const text = `${hashed} ${KEY_A}\n`;
  assert.ok(sshKeygenFinds(text, 'h.example.org'));
  assert.ok(!sshKeygenFinds(text, 'other.example.org'));
  assert.ok(knowsHost(text, 'h.example.org'));
  assert.ok(!knowsHost(text, 'other.example.org'));
  // A revoked key on a hashed line goes (0.43 never removed hashed lines).
  assert.equal(editKnownHosts(text, [{ name: 'h.example.org', keys: [{ ssh: KEY_A, ok: false }] }], { marker: MARKER, hash: false }), '');
});

test('HASH_KNOWN_HOSTS writes lines ssh finds, without the empty line 0.43 added', () => {
  const out = editKnownHosts('', [{ name: '[h.example.org]:2222', keys: [{ ssh: KEY_A, ok: true }] }], { marker: MARKER, hash: true });
  assert.equal(out.split('\n').length, 2);
  assert.match(out, new RegExp(`^\\|1\\|\\S+ ${KEY_A} ${MARKER}\\n$`));
  assert.ok(sshKeygenFinds(out, '[h.example.org]:2222'));
});

test('valid keys are added once, kept in place when already there; invalid ones leave, other lines stay', () => {
  const before = [
    '# my hosts',
    `other.example.org ${KEY_A}`,
    `h.example.org,10.0.0.1 ${KEY_B} MonkeySphere2020-01-01T00:00:00`,
    'this is not a known_hosts line',
    `@revoked h.example.org ${KEY_B}`,
    '',
  ].join('\n');
  const revokedB = editKnownHosts(before, [{ name: 'h.example.org', keys: [{ ssh: KEY_B, ok: false }, { ssh: KEY_A, ok: true }] }], { marker: MARKER, hash: false });
  assert.equal(
    revokedB,
    ['# my hosts', `other.example.org ${KEY_A}`, 'this is not a known_hosts line', `@revoked h.example.org ${KEY_B}`, `h.example.org ${KEY_A} ${MARKER}`, ''].join('\n'),
  );
  // Run again: nothing changes (no new date on an unchanged answer).
  assert.equal(editKnownHosts(revokedB, [{ name: 'h.example.org', keys: [{ ssh: KEY_A, ok: true }] }], { marker: 'MonkeySphere2024-01-01T00:00:00', hash: false }), revokedB);
  // The same key bad on one certificate, good on another: kept.
  assert.equal(editKnownHosts(revokedB, [{ name: 'h.example.org', keys: [{ ssh: KEY_A, ok: false }, { ssh: KEY_A, ok: true }] }], { marker: MARKER, hash: false }), revokedB);
  assert.deepEqual(garbageLines(before), [4]);
});

test('update-known_hosts with no host goes through the plain names of known_hosts', () => {
  const text = [`a.example.org,b.example.org ${KEY_A}`, `|1|abc=|def= ${KEY_A}`, `[c.example.org]:2222 ${KEY_B}`, `@cert-authority *.example.org ${KEY_B}`, '# x', 'junk'].join('\n');
  assert.deepEqual(knownHostsHosts(text), ['a.example.org', 'b.example.org', '[c.example.org]:2222']);
  assert.equal(parseKnownHostsLine('junk'), undefined);
  assert.deepEqual(parseKnownHostsLine(`@revoked h ${KEY_A} c`), { marker: '@revoked', hosts: 'h', key: KEY_A });
});
