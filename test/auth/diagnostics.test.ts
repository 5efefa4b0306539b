/**
 * monkeysphere-authentication diagnostics recommends an AuthorizedKeysCommand that
 * exists: the installed keys-for-user command (as scripts/setup.sh links it), run as the
 * unprivileged monkeysphere user; and a real sshd takes the recommended lines.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { authPaths } from '../../src/auth/config.js';
import { DEFAULT_BIN_DIR, diagnose, KEYS_COMMAND, keysCommandPath } from '../../src/auth/diagnostics.js';

const root = mkdtempSync(join(tmpdir(), 'ms-auth-diag-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A bin directory as setup.sh makes it: KEYS_COMMAND linked to bin/<command>.js of this checkout. */
function binDir(name: string, executable = true): string {
  const dir = join(root, name);
  mkdirSync(dir);
  if (executable) symlinkSync(resolve('bin', `${KEYS_COMMAND}.js`), join(dir, KEYS_COMMAND));
  else writeFileSync(join(dir, KEYS_COMMAND), '');
  return dir;
}

const NOW = 1_700_000_000;

/** diagnose() on a set-up data directory with one certifier and the given `sshd -T` output. */
function run(sshdConfig: string, keysCommand = { path: '/opt/ms/bin/x', found: true }) {
  const paths = authPaths({ MONKEYSPHERE_SYSDATADIR: join(root, 'var') });
  mkdirSync(paths.dataDir, { recursive: true });
  return diagnose({ paths, now: NOW, core: { fpr: 'F'.repeat(40), created: NOW - 10, status: 'valid' }, certifiers: 1, sshdConfig, keysCommand });
}

describe('the recommended AuthorizedKeysCommand', () => {
  const installed = binDir('installed');
  const notExecutable = binDir('not-executable', false);
  const beside = binDir('beside');

  test('the installed command: beside the running tool, else the first executable one on PATH, else /usr/local/bin', () => {
    assert.deepEqual(keysCommandPath(`relative:${join(root, 'none')}:${notExecutable}:${installed}`, undefined), {
      path: join(installed, KEYS_COMMAND),
      found: true,
    });
    assert.deepEqual(keysCommandPath(installed, join(beside, 'monkeysphere-authentication')), { path: join(beside, KEYS_COMMAND), found: true });
    assert.deepEqual(keysCommandPath(`${notExecutable}:bin`, join(root, 'elsewhere', 'tool')), {
      path: `${DEFAULT_BIN_DIR}/${KEYS_COMMAND}`,
      found: false,
    });
  });

  test('names that command and the monkeysphere user, never /usr/bin or root', () => {
    const { lines } = run('authorizedkeysfile .ssh/authorized_keys\nauthorizedkeyscommand none\n', { path: join(installed, KEYS_COMMAND), found: true });
    const rec = lines.find((l) => l.includes('AuthorizedKeysCommand'))!;
    assert.ok(rec.includes(`'AuthorizedKeysCommand ${join(installed, KEYS_COMMAND)} %u %f' with 'AuthorizedKeysCommandUser monkeysphere'`), rec);
    assert.doesNotMatch(rec, /\/usr\/bin\/|AuthorizedKeysCommandUser root/);
    const missing = run('authorizedkeysfile .ssh/authorized_keys\n', { path: `${DEFAULT_BIN_DIR}/${KEYS_COMMAND}`, found: false });
    assert.ok(missing.lines.some((l) => l.includes(`'AuthorizedKeysCommand /usr/local/bin/${KEYS_COMMAND} %u %f'`) && l.includes('was not found on PATH')));
  });

  test('sshd takes the recommended lines, and diagnostics is then content', () => {
    const command = join(installed, KEYS_COMMAND);
    const before = run('authorizedkeysfile .ssh/authorized_keys\n', { path: command, found: true });
    assert.equal(before.problems, 1);
    const rec = before.lines.find((l) => l.includes('AuthorizedKeysCommand'))!;
    const [, cmdLine, userLine] = /'(AuthorizedKeysCommand [^']+)' with '(AuthorizedKeysCommandUser [^']+)'/.exec(rec)!;
    // sshd_config is read by root only; sshd checks the command's path when it runs it, not here.
    const cfg = join(root, 'sshd_config');
    writeFileSync(cfg, `${cmdLine}\n${userLine}\nAuthorizedKeysFile none\n`);
    chmodSync(cfg, 0o600);
    const t = spawnSync('/usr/sbin/sshd', ['-T', '-f', cfg], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, new RegExp(`^authorizedkeyscommand ${command} %u %f$`, 'm'));
    assert.match(t.stdout, /^authorizedkeyscommanduser monkeysphere$/m);
    const fixed = run(t.stdout, { path: command, found: true });
    assert.equal(fixed.problems, 0, fixed.lines.join('\n'));
    assert.ok(fixed.lines.includes('Everything seems to be in order!'));
  });
});

describe('an unprivileged AuthorizedKeysCommandUser and users\' homes', () => {
  test('homes others may not enter (Debian 12 makes them 0700) are reported; searchable ones are not', () => {
    const home = join(root, 'home-bob');
    mkdirSync(join(home, '.monkeysphere'), { recursive: true });
    const file = join(home, '.monkeysphere', 'authorized_user_ids');
    writeFileSync(file, 'Bob <bob@example.net>\n');
    chmodSync(file, 0o644);
    chmodSync(join(home, '.monkeysphere'), 0o755);
    chmodSync(root, 0o755);
    const sshd = `authorizedkeysfile none\nauthorizedkeyscommand /usr/local/bin/${KEYS_COMMAND} %u %f\nauthorizedkeyscommanduser monkeysphere\n`;
    const paths = authPaths({ MONKEYSPHERE_SYSDATADIR: join(root, 'var') });
    mkdirSync(paths.dataDir, { recursive: true });
    const check = () =>
      diagnose({ paths, now: NOW, core: { fpr: 'F'.repeat(40), created: NOW - 10, status: 'valid' }, certifiers: 1, sshdConfig: sshd, userFiles: [{ account: 'bob', path: file }] });
    chmodSync(home, 0o700);
    const hidden = check();
    assert.ok(hidden.lines.some((l) => l.includes(`1 account(s) list user IDs that monkeysphere (AuthorizedKeysCommandUser) cannot reach, e.g. ${file}`)), hidden.lines.join('\n'));
    chmodSync(home, 0o711);
    assert.ok(!check().lines.some((l) => l.includes('cannot reach')));
  });
});
