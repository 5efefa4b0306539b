/**
 * asUser: the step runs with the user's effective identity and groups, and root's are
 * back afterwards, also when the step throws or the name is unknown to the group database.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { asUser, canSwitchUser } from '../../src/files/as-user.js';

const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
const nogroup = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim());

test('tests run as root, so the switch is exercised', () => {
  assert.equal(canSwitchUser(), true);
});

test('switches effective uid, gid and groups, and restores them', () => {
  const groups = process.getgroups?.();
  const r = asUser({ name: 'nobody', uid: nobody, gid: nogroup }, () => ({ euid: process.geteuid?.(), egid: process.getegid?.(), groups: process.getgroups?.() }));
  assert.equal(r.switched, true);
  assert.deepEqual(r.value, { euid: nobody, egid: nogroup, groups: [nogroup] });
  assert.equal(process.geteuid?.(), 0);
  assert.equal(process.getegid?.(), 0);
  assert.deepEqual(process.getgroups?.(), groups);
});

test('restores root when the step throws', () => {
  assert.throws(() =>
    asUser({ name: 'nobody', uid: nobody, gid: nogroup }, () => {
      throw new Error('boom');
    }),
  /boom/);
  assert.equal(process.geteuid?.(), 0);
});

test('a name the system does not know still switches, with its primary group only', () => {
  const r = asUser({ name: 'no-such-user-ms', uid: 54321, gid: 54321 }, () => [process.geteuid?.(), process.getgroups?.()]);
  assert.deepEqual(r.value, [54321, [54321]]);
  assert.equal(process.geteuid?.(), 0);
});

test('root accounts are read as root, without switching', () => {
  const r = asUser({ name: 'root', uid: 0, gid: 0 }, () => process.geteuid?.());
  assert.deepEqual(r, { switched: false, value: 0 });
});
