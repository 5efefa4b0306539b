import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { COMMON_VARS, configFiles, loadConfig, parseShellConfig, type Schema, systemDirs } from '../../src/config/index.js';
import { EnvironmentError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ms-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('parseShellConfig', () => {
  test('assignments, quotes, comments and export', () => {
    const { vars, problems } = parseShellConfig(
      [
        '# a comment',
        'LOG_LEVEL=debug',
        '  KEYSERVER="hkp://keys.example.org"  # trailing comment',
        "export PROMPT='false'",
        'A=one\\ two',
        'B="say \\"hi\\" \\$HOME"',
        "C='no $expansion here'",
        'D=#not-a-comment',
        'E=',
        'F="multi',
        'line"',
        'G=x; H=y',
      ].join('\n'),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(Object.fromEntries(vars), {
      LOG_LEVEL: 'debug',
      KEYSERVER: 'hkp://keys.example.org',
      PROMPT: 'false',
      A: 'one two',
      B: 'say "hi" $HOME',
      C: 'no $expansion here',
      D: '#not-a-comment',
      E: '',
      F: 'multi\nline',
      G: 'x',
      H: 'y',
    });
  });
  test('expansion from earlier lines and the lookup', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax under test
    const { vars } = parseShellConfig('BASE=/srv\nA=$BASE/a\nB="${BASE}/b"\nC=${HOME}/c\nD=${UNSET:-fallback}\nE=${BASE:-x}', (n) =>
      n === 'HOME' ? '/home/u' : undefined,
    );
    assert.equal(vars.get('A'), '/srv/a');
    assert.equal(vars.get('B'), '/srv/b');
    assert.equal(vars.get('C'), '/home/u/c');
    assert.equal(vars.get('D'), 'fallback');
    assert.equal(vars.get('E'), '/srv');
  });
  test('a leading ~ (and one after :) is $HOME, as bash expands assignments; quoted or inside a word it stays', () => {
    const { vars, problems } = parseShellConfig(
      "GNUPGHOME=~/.gnupg\nKNOWN_HOSTS=~\nP=/a:~/b\nQ='~/q'\nR=a~b\nS=\"~\"/s\nT=~root/x\n",
      (n) => (n === 'HOME' ? '/home/u' : undefined),
    );
    assert.deepEqual(Object.fromEntries(vars), { GNUPGHOME: '/home/u/.gnupg', KNOWN_HOSTS: '/home/u', P: '/a:/home/u/b', Q: '~/q', R: 'a~b', S: '~/s' });
    assert.deepEqual(problems.map((p) => p.line), [7]);
    assert.match(problems[0].message, /another user's home/);
    assert.match(parseShellConfig('A=~/x').problems[0].message, /needs HOME/);
  });
  test('a long bad line is quoted cut short', () => {
    const { problems } = parseShellConfig(`${'a'.repeat(5000)}\n`);
    assert.ok(problems[0].message.length < 200, problems[0].message);
  });
  test('commands and unsupported syntax are reported with line numbers and skipped', () => {
    const { vars, problems } = parseShellConfig('A=1\nrm -rf /\nB=$(id -u)\nC=two words\nD="unterminated\n');
    assert.deepEqual(Object.fromEntries(vars), { A: '1' });
    assert.deepEqual(
      problems.map((p) => p.line),
      [2, 3, 4, 5],
    );
    assert.match(problems[1].message, /command substitution/);
  });
});

const SCHEMA = {
  ...COMMON_VARS,
  CORE_KEYLENGTH: { kind: 'integer', default: 3072 },
} as const satisfies Schema;

describe('loadConfig', () => {
  test('defaults when nothing is set', () => {
    const c = loadConfig(SCHEMA, { env: {}, files: [join(dir, 'missing.conf')] });
    assert.deepEqual(c.values, {
      LOG_LEVEL: 'INFO',
      KEYSERVER: 'hkps://keyserver.ubuntu.com',
      CHECK_KEYSERVER: true,
      STRICT_MODES: true,
      MONKEYSPHERE_USER: 'monkeysphere',
      PROMPT: true,
      CORE_KEYLENGTH: 3072,
    });
    assert.deepEqual(c.files, []);
    assert.deepEqual(c.sources.PROMPT, { kind: 'default' });
  });
  test('precedence: env > user file > system file > default', () => {
    const system = file('system.conf', 'KEYSERVER=system.example\nPROMPT=false\nLOG_LEVEL=verbose\nMONKEYSPHERE_USER=sysuser\n');
    const user = file('user.conf', 'KEYSERVER=user.example\nLOG_LEVEL=error\n');
    const c = loadConfig(SCHEMA, {
      env: { MONKEYSPHERE_LOG_LEVEL: 'debug', MONKEYSPHERE_MONKEYSPHERE_USER: 'envuser', MONKEYSPHERE_CHECK_KEYSERVER: '' },
      files: [system, user],
    });
    assert.equal(c.values.LOG_LEVEL, 'DEBUG');
    assert.equal(c.values.KEYSERVER, 'user.example');
    assert.equal(c.values.PROMPT, false);
    assert.equal(c.values.MONKEYSPHERE_USER, 'envuser');
    assert.equal(c.values.CHECK_KEYSERVER, true, 'an empty env var counts as unset');
    assert.deepEqual(c.sources.KEYSERVER, { kind: 'file', path: user, line: 1 });
    assert.deepEqual(c.sources.MONKEYSPHERE_USER, { kind: 'env', name: 'MONKEYSPHERE_MONKEYSPHERE_USER' });
    assert.deepEqual(c.files, [system, user]);
  });
  test('bad values are reported and fall through; unknown levels mean INFO', () => {
    const f = file('bad.conf', 'PROMPT=maybe\nCORE_KEYLENGTH=big\nLOG_LEVEL=loud\n');
    const c = loadConfig(SCHEMA, { env: { MONKEYSPHERE_PROMPT: 'perhaps' }, files: [f] });
    assert.equal(c.values.PROMPT, true);
    assert.equal(c.values.CORE_KEYLENGTH, 3072);
    assert.equal(c.values.LOG_LEVEL, 'INFO');
    assert.equal(c.problems.length, 4);
    assert.ok(c.problems.some((p) => p.where === 'environment' && /MONKEYSPHERE_PROMPT/.test(p.message)));
    assert.ok(c.problems.some((p) => p.where === f && p.line === 2));
  });
  test('fallback environment variables rank below the files', () => {
    const schema = { GNUPGHOME: { kind: 'string', default: '~/.gnupg', fallbackEnv: ['GNUPGHOME'] } } as const satisfies Schema;
    assert.equal(loadConfig(schema, { env: { GNUPGHOME: '/g' }, files: [] }).values.GNUPGHOME, '/g');
    const f = file('g.conf', 'GNUPGHOME=/from-file\n');
    assert.equal(loadConfig(schema, { env: { GNUPGHOME: '/g' }, files: [f] }).values.GNUPGHOME, '/from-file');
    assert.equal(loadConfig(schema, { env: { GNUPGHOME: '/g', MONKEYSPHERE_GNUPGHOME: '/ms' }, files: [f] }).values.GNUPGHOME, '/ms');
  });
  test('a config file that exists but cannot be read is an EnvironmentError', () => {
    // A directory in place of the file: unreadable even for root (tests may run as root).
    assert.throws(() => loadConfig(SCHEMA, { env: {}, files: [dir] }), (e: unknown) => e instanceof EnvironmentError && e.code === 'MS_CONFIG_UNREADABLE');
  });
  test('a FIFO or an oversized file in place of the config is refused at once, not waited on or read', () => {
    const fifo = join(dir, 'fifo.conf');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => loadConfig(SCHEMA, { env: {}, files: [fifo] }), (e: unknown) => e instanceof EnvironmentError && e.code === 'MS_CONFIG_UNREADABLE' && /not a regular file/.test(e.message));
    const big = join(dir, 'big.conf');
    writeFileSync(big, `# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    assert.throws(() => loadConfig(SCHEMA, { env: {}, files: [big] }), (e: unknown) => e instanceof EnvironmentError && /larger than/.test(e.message));
  });
});

describe('locations', () => {
  test('system directories from the environment', () => {
    assert.deepEqual(systemDirs({}), { sysConfigDir: '/etc/monkeysphere', sysDataDir: '/var/lib/monkeysphere', sysShareDir: '/usr/share/monkeysphere' });
    assert.equal(systemDirs({ MONKEYSPHERE_SYSDATADIR: '/tmp/d' }).sysDataDir, '/tmp/d');
  });
  test('config files per tool', () => {
    const env = { MONKEYSPHERE_SYSCONFIGDIR: '/c', HOME: '/home/u' };
    assert.deepEqual(configFiles('monkeysphere-host', env), ['/c/monkeysphere-host.conf']);
    assert.deepEqual(configFiles('monkeysphere-host', { ...env, MONKEYSPHERE_HOST_CONFIG: '/x.conf' }), ['/x.conf']);
    assert.deepEqual(configFiles('monkeysphere-authentication', env), ['/c/monkeysphere-authentication.conf']);
    assert.deepEqual(configFiles('monkeysphere', env), ['/c/monkeysphere.conf', '/home/u/.monkeysphere/monkeysphere.conf']);
    assert.deepEqual(configFiles('monkeysphere', { ...env, MONKEYSPHERE_HOME: '/m' }), ['/c/monkeysphere.conf', '/m/monkeysphere.conf']);
    assert.deepEqual(configFiles('monkeysphere', { ...env, MONKEYSPHERE_CONFIG: '/u.conf' }), ['/c/monkeysphere.conf', '/u.conf']);
  });
});
