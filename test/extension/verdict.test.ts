/**
 * The extension's pure parts in Node: what it makes of the agent's replies, the peer name
 * it asks about, its settings, and the .xpi the build writes (a zip another reader accepts, holding
 * every file the manifest names), read back by Python's zipfile (python3 is a setup package;
 * unzip need not be installed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultSettings, normaliseSettings, parseAgentUrl, shouldCheck } from '../../extension/src/settings.js';
import { classifyReply, peerName, reviewRequest } from '../../extension/src/verdict.js';
import { buildExtension, storedZip } from '../../scripts/build-extension.js';

const FPR = 'D0347A832A9616B1DEF69FAAE28D1A77CB8EB3E3';

/** Runs Python's zipfile on an archive: `test` (testzip + CRCs), `names`, or `read NAME`. */
function pyZip(zip: string, what: 'test' | 'names' | 'read', name = ''): string {
  const code = `import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
w = sys.argv[2]
if w == 'test':
    bad = z.testzip()
    if bad: sys.exit('bad entry: ' + bad)
elif w == 'names':
    print('\\n'.join(z.namelist()))
else:
    sys.stdout.buffer.write(z.read(sys.argv[3]))`;
  const r = spawnSync('python3', ['-c', code, zip, what, name], { encoding: 'latin1' });
  assert.equal(r.status, 0, `python3 zipfile ${what}: ${r.stderr}`);
  return r.stdout;
}

test('the peer name is the host with its port unless 443, as the XUL extension sent it', () => {
  assert.equal(peerName('https://www.example.org/path?q'), 'www.example.org');
  assert.equal(peerName('https://www.example.org:443/'), 'www.example.org');
  assert.equal(peerName('https://WWW.Example.org:8443/'), 'www.example.org:8443');
  assert.equal(peerName('http://www.example.org/'), undefined);
  assert.equal(peerName('not a url'), undefined);
  assert.deepEqual(reviewRequest('a.example:8443', Buffer.from([0x30, 0x82])), { context: 'https', peer: { name: 'a.example:8443', type: 'server' }, pkc: { type: 'x509der', data: [0x30, 0x82] } });
  assert.equal(reviewRequest('a.example', [1], 'never').keyserverpolicy, 'never');
});

test('replies: valid, mismatch only from validCertificates, unknown from certificates or our words', () => {
  const server = 'MSVA-Monkeysphere 0.50.0';
  assert.equal(classifyReply(200, { valid: true, message: 'Successfully validated "https://a" through the OpenPGP Web of Trust.', server }).kind, 'valid');
  const mismatch = classifyReply(200, { valid: false, message: 'Failed…', certificates: 1, validCertificates: [FPR.toLowerCase()], server });
  assert.equal(mismatch.kind, 'mismatch');
  assert.deepEqual(mismatch.certified, [FPR]);
  // Without the member (msva-perl, an older agent) a refusal never blocks.
  assert.equal(classifyReply(200, { valid: false, message: 'Failed to validate "https://a" through the OpenPGP Web of Trust. The certificate with the user ID "https://a" does not hold this key.' }).kind, 'invalid');
  assert.equal(classifyReply(200, { valid: false, message: 'Failed to validate "https://a" through the OpenPGP Web of Trust.' }).kind, 'invalid');
  assert.equal(classifyReply(200, { valid: false, message: 'Failed to validate "https://a" through the OpenPGP Web of Trust. No OpenPGP certificate in your keyring carries the user ID "https://a".' }).kind, 'unknown');
  assert.equal(classifyReply(200, { valid: false, message: 'whatever', certificates: 0, validCertificates: [] }).kind, 'unknown');
  assert.equal(classifyReply(200, { valid: false, message: 'No OpenPGP certificate … carries the user ID', certificates: 2, validCertificates: [] }).kind, 'invalid');
  // Junk in the member is ignored.
  assert.equal(classifyReply(200, { valid: false, message: '', certificates: 1, validCertificates: ['<b>', 7] }).kind, 'invalid');
});

test('replies the agent could not give are errors, with its words', () => {
  const e = classifyReply(403, { valid: false, message: 'the agent does not answer web pages', error: { code: 'MS_MSVA_FORBIDDEN', message: 'the agent does not answer web pages' } });
  assert.equal(e.kind, 'error');
  assert.match(e.message, /HTTP 403: the agent does not answer web pages/);
  assert.equal(classifyReply(200, 'not json').kind, 'error');
  assert.equal(classifyReply(200, { message: 'no valid member' }).kind, 'error');
});

test('settings: the agent on the loopback only, damaged storage gets defaults, per-site modes decide', () => {
  assert.deepEqual(parseAgentUrl('http://127.0.0.1:8901/'), { url: 'http://127.0.0.1:8901' });
  assert.deepEqual(parseAgentUrl(' http://localhost:9000 '), { url: 'http://localhost:9000' });
  assert.ok('error' in parseAgentUrl('https://127.0.0.1:8901'));
  assert.ok('error' in parseAgentUrl('http://agent.example.org:8901'));
  assert.ok('error' in parseAgentUrl('http://127.0.0.1:8901/reviewcert'));
  assert.ok('error' in parseAgentUrl('8901'));
  assert.deepEqual(normaliseSettings(undefined), defaultSettings());
  assert.equal(defaultSettings().agentUrl, 'http://127.0.0.1:8901');
  const s = normaliseSettings({ agentUrl: 'http://evil.example', checkAll: 'yes', sites: { 'a.example': 'ignore', 'b.example': 'always', 'c.example': 'bogus' }, proceed: { 'a.example': ['f'.repeat(64), 'nope'] } });
  assert.equal(s.agentUrl, 'http://127.0.0.1:8901');
  assert.equal(s.checkAll, true);
  assert.equal(s.keyserver, 'agent');
  assert.equal(normaliseSettings({ keyserver: 'never' }).keyserver, 'never');
  assert.equal(normaliseSettings({ keyserver: 'always' }).keyserver, 'agent');
  assert.deepEqual(s.sites, { 'a.example': 'ignore', 'b.example': 'always' });
  assert.deepEqual(s.proceed, { 'a.example': ['f'.repeat(64)] });
  assert.equal(shouldCheck(s, 'a.example'), false);
  assert.equal(shouldCheck(s, 'b.example'), true);
  assert.equal(shouldCheck(s, 'd.example'), true);
  s.checkAll = false;
  assert.equal(shouldCheck(s, 'b.example'), true);
  assert.equal(shouldCheck(s, 'd.example'), false);
});

test('the stored zip is a zip Python reads back, byte for byte', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ms-zip-'));
  try {
    const files = [
      { name: 'manifest.json', data: Buffer.from('{}\n') },
      { name: 'icons/a b.svg', data: Buffer.from('<svg/>') },
      { name: 'empty', data: Buffer.alloc(0) },
      { name: 'bytes', data: Buffer.from(Array.from({ length: 256 }, (_, i) => i)) },
    ];
    const zip = join(dir, 't.zip');
    writeFileSync(zip, storedZip(files));
    pyZip(zip, 'test');
    assert.deepEqual(pyZip(zip, 'names').trim().split('\n'), files.map((f) => f.name));
    for (const f of files) assert.deepEqual(Buffer.from(pyZip(zip, 'read', f.name), 'latin1'), f.data);
    assert.deepEqual(storedZip(files), storedZip(files));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run build:extension writes an .xpi holding every file the manifest names', async () => {
  const { xpi } = await buildExtension({ typecheck: false });
  pyZip(xpi, 'test');
  const names = pyZip(xpi, 'names').trim().split('\n');
  assert.equal(names[0], 'manifest.json');
  const manifest = JSON.parse(Buffer.from(pyZip(xpi, 'read', 'manifest.json'), 'latin1').toString('utf8')) as {
    manifest_version: number;
    background: { scripts: string[] };
    browser_action: { default_icon: string; default_popup: string };
    options_ui: { page: string };
    web_accessible_resources: string[];
    icons: Record<string, string>;
  };
  assert.equal(manifest.manifest_version, 2);
  const named = [
    ...manifest.background.scripts,
    manifest.browser_action.default_icon,
    manifest.browser_action.default_popup,
    manifest.options_ui.page,
    ...manifest.web_accessible_resources,
    ...Object.values(manifest.icons),
  ];
  for (const n of named) assert.ok(names.includes(n), `${n} is missing from the .xpi`);
  for (const kind of ['none', 'valid', 'mismatch', 'invalid', 'unknown', 'error']) assert.ok(names.includes(`icons/${kind}.svg`));
  for (const html of names.filter((n) => n.endsWith('.html'))) {
    const text = Buffer.from(pyZip(xpi, 'read', html), 'latin1').toString('utf8');
    for (const [, src] of text.matchAll(/(?:src|href)="([^"#:]+)"/g)) assert.ok(names.includes(src), `${html} names ${src}, missing`);
  }
});
