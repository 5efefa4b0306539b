/**
 * The agent as a program: msva-perl's start-up (the socket line, MSVA_PORT, running a
 * command with MONKEYSPHERE_VALIDATION_AGENT_SOCKET set and exiting with its status), access
 * control by the connecting local user (MSVA_ALLOWED_USERS; the peer's uid from
 * /proc/net/tcp), and bad input: malformed JSON, wrong types, a 10 MB body, an unknown
 * context, a certificate that does not parse, wrong methods and paths, web pages' origins;
 * each gets a clear JSON error or 4xx and the agent keeps serving. Also the request parser
 * and the /proc/net/tcp reader on their own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { allowedUids, procAddress, uidFromProcNetTcp } from '../../src/msva/peer-uid.js';
import { parseReviewRequest, RequestError, userIdFor } from '../../src/msva/request.js';
import { ensureBuilt } from '../auth/harness.js';
import { freePort, MsvaWorld, OUR_AGENT, OUR_QUERY, post, query, type RunningAgent, startOurAgent } from './world.js';

describe('the request, as msva-perl reads it', () => {
  test('the user ID from context, peer name and peer type', () => {
    assert.equal(userIdFor('https', 'www.example.org'), 'https://www.example.org');
    assert.equal(userIdFor('https', 'www.example.org:8443'), 'https://www.example.org:8443');
    assert.equal(userIdFor('https', 'WWW.Example.org'), 'https://WWW.Example.org');
    assert.equal(userIdFor('https', 'www.example.org\n'), 'https://www.example.org', "Perl's $ before a final newline");
    assert.equal(userIdFor('https', ' '), 'https:// ', "Regexp::Common's domain admits a single space");
    assert.equal(userIdFor('e-mail', 'Alice <alice@example.org>'), 'Alice <alice@example.org>');
    assert.equal(userIdFor('https', 'Alice Client', 'client'), 'Alice Client');
    assert.equal(userIdFor('smtp', 'mx.example.org', 'client'), 'smtp://mx.example.org');
    assert.equal(userIdFor('ike', 'gw.example.org', 'client'), 'ike://gw.example.org');
    assert.equal(userIdFor('ssh', 'host.example.org', 'peer'), 'ssh://host.example.org');
    for (const bad of ['1.2.3.4', '3com.example.org', 'x-.example.org', 'a..b', 'www.example.org.', 'www.example.org:', 'www.example.org:x', '', 'a b']) {
      assert.throws(() => userIdFor('https', bad), (e: unknown) => e instanceof RequestError && e.code === 'MS_MSVA_PEER' && e.status === 400, bad);
    }
    // A NUL may end the name (the original's last character class excludes only white space), not sit inside it.
    assert.equal(userIdFor('e-mail', 'nul\0'), 'nul\0');
    for (const bad of [' leading', 'trailing ', 'two\nlines', 'a\0b', '']) {
      assert.throws(() => userIdFor('e-mail', bad), (e: unknown) => e instanceof RequestError && /^Invalid client peer name string/.test(e.message), JSON.stringify(bad));
    }
  });

  test('the order of checks and their messages', () => {
    const fails = (body: unknown, code: string, message: string | RegExp) =>
      assert.throws(
        () => parseReviewRequest(body),
        (e: unknown) => e instanceof RequestError && e.code === code && (typeof message === 'string' ? e.message === message : message.test(e.message)),
        JSON.stringify(body),
      );
    fails([], 'MS_MSVA_REQUEST', /the request must be a JSON object, not an array/);
    fails('x', 'MS_MSVA_REQUEST', /not string/);
    fails({ context: 'foo', peer: 'x' }, 'MS_MSVA_EMPTY', 'Key data empty.');
    fails({ context: 'foo', peer: 'x', pkc: { type: 'x509pem', data: 'x' } }, 'MS_MSVA_CONTEXT', 'Invalid/unknown context: foo');
    fails({ context: 7, peer: 'x', pkc: { type: 'x509pem', data: 'x' } }, 'MS_MSVA_REQUEST', /context must be a string, not number/);
    fails({ context: 'https', peer: { name: 'x', type: 'robot' }, pkc: { type: 'x509pem', data: 'x' } }, 'MS_MSVA_PEER', 'Invalid peer type string: robot');
    fails({ context: 'https', peer: { name: 5 }, pkc: { type: 'x509pem', data: 'x' } }, 'MS_MSVA_REQUEST', /peer\.name must be a string, not number/);
    fails({ context: 'https', peer: 'x', pkc: { type: 'x509der', data: 'abc' } }, 'MS_MSVA_REQUEST', /array of byte values/);
    fails({ context: 'https', peer: 'x', pkc: { type: 'x509der', data: [1, 256] } }, 'MS_MSVA_REQUEST', /pkc\.data\[1\] is not a byte value/);
    fails({ context: 'https', peer: 'x', pkc: { type: 'pgp', data: 'x' } }, 'MS_MSVA_PKC_TYPE', "Don't know this public key carrier type: pgp");
    fails({ context: 'https', peer: 'x', pkc: { type: 'openpgp4fpr', data: 'ABC' } }, 'MS_MSVA_FINGERPRINT', 'Invalid OpenPGP v4 fingerprint.');
    const r = parseReviewRequest({ context: 'https', peer: 'www.example.org', pkc: { type: 'OpenPGP4FPR', data: `0x${'ab'.repeat(20)}` }, keyserverpolicy: 'never' });
    assert.deepEqual(r, { context: 'https', peer: { name: 'www.example.org', type: undefined }, pkc: { type: 'openpgp4fpr', data: 'AB'.repeat(20) }, keyserverPolicy: 'never', userId: 'https://www.example.org' });
    assert.equal(parseReviewRequest({ context: 'https', peer: 'x', pkc: { type: 'x509pem', data: 'x' }, keyserverpolicy: 'sometimes' }).keyserverPolicy, undefined);
  });
});

describe('the peer of a loopback connection', () => {
  const TABLE = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:D2F4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 101 1 0000000000000000 20 4 30 10 -1',
    '   2: 0100007F:1F90 0100007F:D2F4 01 00000000:00000000 00:00000000 00000000     0        0 102 1 0000000000000000 20 4 30 10 -1',
  ].join('\n');

  test('/proc/net/tcp: the row of the client end gives its uid', () => {
    assert.equal(procAddress('127.0.0.1', 8080), '0100007F:1F90');
    assert.equal(procAddress('::ffff:127.0.0.1', 54004), '0100007F:D2F4');
    assert.equal(procAddress('::1', 1), undefined);
    assert.equal(uidFromProcNetTcp(TABLE, '0100007F:D2F4', '0100007F:1F90'), 1000);
    assert.equal(uidFromProcNetTcp(TABLE, '0100007F:D2F5', '0100007F:1F90'), undefined);
    assert.equal(uidFromProcNetTcp('garbage', '0100007F:D2F4', '0100007F:1F90'), undefined);
  });

  test('MSVA_ALLOWED_USERS: names and uids, unknown names allow nobody, unset means only self', () => {
    const lookup = (n: string) => ({ root: 0, nobody: 65534 })[n];
    assert.deepEqual(allowedUids(undefined, 1000, lookup), { uids: new Set([1000]), unknown: [] });
    assert.deepEqual(allowedUids('', 1000, lookup), { uids: new Set([1000]), unknown: [] });
    assert.deepEqual(allowedUids('nobody  42 ghost', 1000, lookup), { uids: new Set([65534, 42]), unknown: ['ghost'] });
  });
});

describe('the agent as a process', () => {
  let world: MsvaWorld;
  let agent: RunningAgent;
  let der: Buffer;

  before(async () => {
    ensureBuilt();
    world = new MsvaWorld();
    world.ownertrust(world.alice, 5);
    der = (await world.site('rsa', 'https://www.example.org')).tls.der;
    writeFileSync(join(world.tls[0].dir, 'cert.der'), der);
    agent = await startOurAgent(world.agentEnv());
  });
  after(async () => {
    await agent?.stop();
    world?.cleanup();
  });

  const alive = async () => {
    const res = await fetch(`${agent.url}/`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { available: boolean }).available, true);
    assert.equal(query('ours', agent.url, ['https', 'www.example.org', 'x509der'], der).status, 0, 'still answering');
  };

  test('GET / and the routes: 404 for other paths, 405 with Allow for other methods, 501 for /extracerts', async () => {
    const root = await fetch(`${agent.url}/`);
    assert.deepEqual(await root.json(), { available: true, protoversion: 1, server: (await (await fetch(`${agent.url}/`)).json() as { server: string }).server });
    const missing = await fetch(`${agent.url}/nothing`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /is not handled by the MonkeySphere validation agent/);
    const get = await fetch(`${agent.url}/reviewcert`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    await get.text();
    const postRoot = await post(agent.url, '/', '{}');
    assert.equal(postRoot.status, 405);
    const extra = await post(agent.url, '/extracerts', '{}');
    assert.equal(extra.status, 501);
    assert.equal((extra.json as { error: { code: string } }).error.code, 'MS_MSVA_NOT_IMPLEMENTED');
    await alive();
  });

  test('bad input gets a JSON error with its code, and the agent keeps serving', async () => {
    const cases: Array<[string | Buffer, number, string]> = [
      ['{"context": "https", ', 400, 'MS_MSVA_JSON'],
      ['[1,2,3]', 400, 'MS_MSVA_REQUEST'],
      ['"just a string"', 400, 'MS_MSVA_REQUEST'],
      ['{"context":["https"],"peer":"www.example.org","pkc":{"type":"x509der","data":[1]}}', 400, 'MS_MSVA_REQUEST'],
      ['{"context":"https","peer":{"name":{"a":1}},"pkc":{"type":"x509der","data":[1]}}', 400, 'MS_MSVA_REQUEST'],
      ['{"context":"https","peer":"www.example.org","pkc":{"type":"x509der","data":[1,"2"]}}', 400, 'MS_MSVA_REQUEST'],
      ['{"context":"https","peer":"www.example.org","pkc":{"type":"x509der","data":[]}}', 422, 'MS_MSVA_PKC'],
      ['{"context":"gopher","peer":"www.example.org","pkc":{"type":"x509der","data":[1]}}', 400, 'MS_MSVA_CONTEXT'],
      ['{"context":"https","peer":"www.example.org","pkc":{"type":"x509der","data":[48,3,2,1,0]}}', 422, 'MS_MSVA_PKC'],
      ['{"context":"https","peer":"www.example.org","pkc":{"type":"x509pem","data":"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n"}}', 422, 'MS_MSVA_PKC'],
      ['{"context":"https","peer":"www.example.org","pkc":{"type":"opensshpubkey","data":"ssh-rsa !!!"}}', 422, 'MS_MSVA_PKC'],
      ['{"context":"https","peer":"www.example.org","pkc":{"type":"opensshpubkey","data":"ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB"}}', 422, 'MS_MSVA_PKC'],
      ['{"context":"https","peer":"www.example.org"}', 400, 'MS_MSVA_EMPTY'],
      [Buffer.from([0xff, 0xfe, 0x00]), 400, 'MS_MSVA_JSON'],
    ];
    for (const [body, status, code] of cases) {
      const r = await post(agent.url, '/reviewcert', body);
      assert.equal(r.status, status, `${body}: ${r.text}`);
      const j = r.json as { valid: boolean; message: string; error: { code: string; message: string } };
      assert.equal(j.valid, false);
      assert.equal(j.error.code, code, String(body));
      assert.ok(j.message.length > 0);
    }
    await alive();
  });

  test('a 10 MB body is refused with 413 as soon as it is known (the rest dropped, so the client reads the answer), and the agent keeps serving', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
    const r = await post(agent.url, '/reviewcert', big);
    assert.equal(r.status, 413);
    assert.equal((r.json as { error: { code: string } }).error.code, 'MS_MSVA_TOO_LARGE');
    // Without Content-Length (chunked), cut off as it streams in.
    const chunked = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Expect:', '-H', 'Transfer-Encoding: chunked', '-H', 'Content-Type: application/json', '--data-binary', '@-', `${agent.url}/reviewcert`], { input: big });
    assert.equal(chunked.stdout.toString(), '413');
    // Larger still, with its length declared: answered at once, the rest dropped as it comes.
    const huge = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Expect:', '-H', 'Content-Type: application/json', '--data-binary', '@-', `${agent.url}/reviewcert`], { input: Buffer.alloc(40 * 1024 * 1024, 0x20) });
    assert.equal(huge.stdout.toString(), '413');
    await alive();
  });

  test("a web page's Origin and a Host other than the loopback are refused", async () => {
    const body = JSON.stringify({ context: 'https', peer: 'www.example.org', pkc: { type: 'x509der', data: [...der] } });
    const page = await post(agent.url, '/reviewcert', body, { Origin: 'https://evil.example.net' });
    assert.equal(page.status, 403);
    assert.equal((page.json as { error: { code: string } }).error.code, 'MS_MSVA_FORBIDDEN');
    // A sandboxed iframe or a data: URL sends "null", with a simple (unpreflighted) text/plain POST.
    const sandboxed = await post(agent.url, '/reviewcert', body, { Origin: 'null', 'Content-Type': 'text/plain' });
    assert.equal(sandboxed.status, 403);
    const ext = await post(agent.url, '/reviewcert', body, { Origin: 'moz-extension://0b5c2a1e-1111-2222-3333-444455556666' });
    assert.equal(ext.status, 200);
    assert.equal((ext.json as { valid: boolean }).valid, true);
    const rebound = spawnSync('curl', ['-s', '-w', ' %{http_code}', '-H', 'Host: evil.example.net', `${agent.url}/`], { encoding: 'utf8' });
    assert.match(rebound.stdout, / 403$/);
    await alive();
  });

  test('another local user is refused (403) unless MSVA_ALLOWED_USERS names it', async () => {
    assert.equal(process.getuid?.(), 0, 'the tests run as root, so they can connect as nobody');
    const asNobody = (url: string) =>
      spawnSync(process.execPath, ['-e', `fetch(${JSON.stringify(`${url}/`)}).then(async (r) => { console.log(r.status, await r.text()); })`], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
    const refused = asNobody(agent.url);
    assert.match(refused.stdout, /^403 HTTP\/1\.1 403 Forbidden -- peer does not match the local user ID/, refused.stderr);
    await alive();

    const shared = await startOurAgent(world.agentEnv({ MSVA_ALLOWED_USERS: 'nobody root' }));
    try {
      const allowed = asNobody(shared.url);
      assert.match(allowed.stdout, /^200 \{"available":true/, allowed.stderr);
      assert.equal(query('ours', shared.url, ['https', 'www.example.org', 'x509der'], der).status, 0);
    } finally {
      await shared.stop();
    }
    const onlyNobody = await startOurAgent(world.agentEnv({ MSVA_ALLOWED_USERS: 'nobody' }));
    try {
      assert.equal(query('ours', onlyNobody.url, ['https', 'www.example.org', 'x509der'], der).status, 100, 'root is not named');
    } finally {
      await onlyNobody.stop();
    }
  });

  test('a GnuPG home the engine cannot read answers 500 with the reason and its code; the agent keeps serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-msva-home-'));
    try {
      writeFileSync(join(dir, 'gpg.conf'), 'trust-model always\n');
      const odd = await startOurAgent(world.agentEnv({ GNUPGHOME: dir }));
      try {
        const r = await post(odd.url, '/reviewcert', JSON.stringify({ context: 'https', peer: 'www.example.org', pkc: { type: 'x509der', data: [...der] } }));
        assert.equal(r.status, 500);
        const j = r.json as { valid: boolean; error: { code: string; message: string } };
        assert.equal(j.valid, false);
        assert.equal(j.error.code, 'MS_WOT_TRUST_MODEL');
        assert.match(j.error.message, /trust-model always/);
        assert.equal((await fetch(`${odd.url}/`)).status, 200);
      } finally {
        await odd.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('start-up: MSVA_PORT, a command run with the socket set (its status is the exit code), a bad port, an unreachable agent', async () => {
    const port = await freePort();
    const fixed = await startOurAgent(world.agentEnv({ MSVA_PORT: String(port), MSVA_LOG_LEVEL: 'info' }));
    try {
      assert.equal(fixed.url, `http://127.0.0.1:${port}`);
      // MSVA_LOG_LEVEL=info logs each answer; the default (error) only errors.
      assert.equal(query('ours', fixed.url, ['https', 'www.example.org', 'x509der'], der).status, 0);
      assert.match(fixed.stderr(), /monkeysphere-validation-agent: returning: \{"valid":true,"message":"Successfully validated/);
      assert.doesNotMatch(agent.stderr(), /returning:/);
      assert.match(agent.stderr(), /MS_MSVA_JSON: the request body is not JSON/);
      const taken = spawnSync(process.execPath, [OUR_AGENT], { env: world.agentEnv({ MSVA_PORT: String(port) }), encoding: 'utf8', timeout: 30_000 });
      assert.equal(taken.status, 4, taken.stderr);
      assert.match(taken.stderr, /code: MS_MSVA_LISTEN/);
    } finally {
      await fixed.stop();
    }
    const child = spawnSync(
      process.execPath,
      [OUR_AGENT, 'sh', '-c', `echo "$MONKEYSPHERE_VALIDATION_AGENT_SOCKET"; "${process.execPath}" "${OUR_QUERY}" https www.example.org x509der < "$1"; echo " $?"; exit 7`, 'sh', join(world.tls[0].dir, 'cert.der')],
      { env: world.agentEnv(), encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(child.status, 7, child.stderr);
    assert.match(child.stdout, /^http:\/\/127\.0\.0\.1:\d+\nSuccessfully validated "https:\/\/www\.example\.org" through the OpenPGP Web of Trust\. 0\n$/);
    const missing = spawnSync(process.execPath, [OUR_AGENT, '/nonexistent/command'], { env: world.agentEnv(), encoding: 'utf8', timeout: 30_000 });
    assert.equal(missing.status, 111);
    for (const bad of ['0', '65536', 'http']) {
      const r = spawnSync(process.execPath, [OUR_AGENT], { env: world.agentEnv({ MSVA_PORT: bad }), encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 4, bad);
      assert.match(r.stderr, /not a reasonable port/);
    }
    const closed = await freePort();
    const gone = query('ours', `http://127.0.0.1:${closed}`, ['https', 'www.example.org', 'x509der'], der);
    assert.equal(gone.status, 100);
    assert.equal(gone.stdout, `500 Can't connect to 127.0.0.1:${closed} (Connection refused)\n`);
    assert.equal(query('ours', `http://127.0.0.1:${closed}`, ['--version']).status, 1);
    const usage = spawnSync(process.execPath, [OUR_QUERY], { encoding: 'utf8' });
    assert.equal(usage.status, 1);
    assert.match(usage.stderr, /^Usage: msva-query-agent CONTEXT PEER PKC_TYPE \[PEER_TYPE\] < PKC_DATA/);
  });
});
