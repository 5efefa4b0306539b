/**
 * The agent protocols' edges, against fake peers in this process (no spawnSync here):
 * RFC 3394's own vector, canonical S-expressions, the secret-key forms gpg-agent exports,
 * agent-transfer's argument parser, and agents that misbehave: a huge length, silence,
 * a refusal, a lying identity count, an endless Assuan line, ERR and INQUIRE answers.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AssuanClient, percentDecode, percentPlusEscape } from '../../src/agent/assuan.js';
import { keyDescription } from '../../src/agent/key-export.js';
import { aesKeyUnwrap } from '../../src/agent/key-wrap.js';
import { parseAgentSecretKey, sshAgentKeyFields, sshPublicBlobOf } from '../../src/agent/secret-key.js';
import { parseCanonicalSexp } from '../../src/agent/sexp.js';
import { SshAgentClient } from '../../src/agent/ssh-agent.js';
import { connectUnix } from '../../src/agent/socket-reader.js';
import { parseTransferArgs } from '../../src/agent/transfer-args.js';
import { MsError } from '../../src/errors.js';
import { sshBlobFromKeyObject } from '../../src/ssh/public-key.js';

const dir = mkdtempSync(join(tmpdir(), 'ms-agent-proto-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof MsError && err.code === code && (!message || message.test(err.message)));
}

async function rejectsCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MsError, String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** A canonical S-expression from nested arrays of strings/Buffers. */
function sexp(x: unknown): Buffer {
  if (Array.isArray(x)) return Buffer.concat([Buffer.from('('), ...x.map(sexp), Buffer.from(')')]);
  const b = Buffer.isBuffer(x) ? x : Buffer.from(String(x));
  return Buffer.concat([Buffer.from(`${b.length}:`), b]);
}

const b64u = (s: string | undefined) => Buffer.from(s ?? '', 'base64url');

describe('AES key wrap and S-expressions', () => {
  test('RFC 3394 §4.1: 128 bits of key data with a 128-bit KEK', () => {
    const kek = Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex');
    const wrapped = Buffer.from('1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5', 'hex');
    assert.equal(aesKeyUnwrap(kek, wrapped).toString('hex').toUpperCase(), '00112233445566778899AABBCCDDEEFF');
    const tampered = Buffer.from(wrapped);
    tampered[5] ^= 1;
    throwsCode(() => aesKeyUnwrap(kek, tampered), 'MS_AGENT_KEY_MALFORMED', /integrity/);
    throwsCode(() => aesKeyUnwrap(kek, wrapped.subarray(0, 20)), 'MS_AGENT_KEY_MALFORMED');
    throwsCode(() => aesKeyUnwrap(kek.subarray(0, 8), wrapped), 'MS_AGENT_KEY_MALFORMED', /expected 16, got 8/);
  });

  test('canonical S-expressions: nesting, binary atoms, padding after the end; garbage refused', () => {
    const parsed = parseCanonicalSexp(Buffer.concat([sexp(['a', ['b', Buffer.from([0, 0x28, 0x29])]]), Buffer.alloc(5)]));
    assert.deepEqual(parsed, [Buffer.from('a'), [Buffer.from('b'), Buffer.from([0, 0x28, 0x29])]]);
    for (const bad of ['(3:ab)', '(1:a', 'x', '(01:a)', '(1234567890:a)', `${'('.repeat(40)}${')'.repeat(40)}`, '(1a)']) {
      throwsCode(() => parseCanonicalSexp(Buffer.from(bad)), 'MS_AGENT_KEY_MALFORMED');
    }
  });

  test('Assuan escapes: %XX decoded (a lone % kept); SETKEYDESC text as GnuPG percent_plus_escape', () => {
    assert.deepEqual(percentDecode(Buffer.from('a%25b%0A%00%zz%4')), Buffer.from([0x61, 0x25, 0x62, 0x0a, 0, 0x25, 0x7a, 0x7a, 0x25, 0x34]));
    assert.equal(percentPlusEscape('Bob "B" <b+x@e.org> 100%\n'), 'Bob+%22B%22+<b%2Bx@e.org>+100%25%0A');
    assert.equal(percentPlusEscape('Zoë'), 'Zoë');
    assert.equal(keyDescription('AB'.repeat(20), 'me'), `SETKEYDESC Sending+key+for+'me'+from+gpg-agent+to+ssh-agent...%0a(keygrip:+${'AB'.repeat(20)})`);
    assert.equal(keyDescription('AB'.repeat(20)), `SETKEYDESC Sending+key+from+gpg-agent+to+ssh-agent...%0a(keygrip:+${'AB'.repeat(20)})`);
  });
});

describe('secret keys as gpg-agent exports them', () => {
  test('RSA: iqmp = q⁻¹ mod p computed (u ignored), fields in ssh-agent order, public blob as ssh-keygen', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const j = privateKey.export({ format: 'jwk' });
    const body = sexp(['private-key', ['rsa', ['n', Buffer.concat([Buffer.from([0]), b64u(j.n)])], ['e', b64u(j.e)], ['d', b64u(j.d)], ['p', b64u(j.p)], ['q', b64u(j.q)], ['u', Buffer.from([1])]]]);
    const key = parseAgentSecretKey(body);
    assert.equal(key.type, 'ssh-rsa');
    if (key.type !== 'ssh-rsa') return;
    assert.deepEqual(key.iqmp, b64u(j.qi));
    assert.deepEqual(sshPublicBlobOf(key), sshBlobFromKeyObject(publicKey));
    assert.ok(sshAgentKeyFields(key).length > 3 * 128);
    const wrong = sexp(['private-key', ['rsa', ['n', b64u(j.n)], ['e', b64u(j.e)], ['d', b64u(j.d)], ['p', b64u(j.p)], ['q', b64u(j.p)]]]);
    throwsCode(() => parseAgentSecretKey(wrong), 'MS_AGENT_KEY_MALFORMED', /p·q is not n/);
  });

  test('Ed25519: (ecc (curve Ed25519)(flags eddsa)(q 0x40‖A)(d k)); a q that is not d\'s is refused', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const j = privateKey.export({ format: 'jwk' });
    const q = Buffer.concat([Buffer.from([0x40]), b64u(j.x)]);
    const key = parseAgentSecretKey(sexp(['private-key', ['ecc', ['curve', 'Ed25519'], ['flags', 'eddsa'], ['q', q], ['d', b64u(j.d)]]]));
    assert.deepEqual(sshPublicBlobOf(key), sshBlobFromKeyObject(publicKey));
    const other = Buffer.from(q);
    other[5] ^= 1;
    throwsCode(() => parseAgentSecretKey(sexp(['private-key', ['ecc', ['curve', 'Ed25519'], ['flags', 'eddsa'], ['q', other], ['d', b64u(j.d)]]])), 'MS_AGENT_KEY_MALFORMED', /does not belong/);
    throwsCode(() => parseAgentSecretKey(sexp(['private-key', ['ecc', ['curve', 'Ed25519'], ['q', q], ['d', b64u(j.d)]]])), 'MS_AGENT_KEY_UNSUPPORTED');
  });

  test('ECDSA on NIST P-384, and curves ssh cannot take', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const j = privateKey.export({ format: 'jwk' });
    const q = Buffer.concat([Buffer.from([4]), b64u(j.x), b64u(j.y)]);
    const key = parseAgentSecretKey(sexp(['private-key', ['ecc', ['curve', 'NIST P-384'], ['q', q], ['d', b64u(j.d)]]]));
    assert.equal(key.type, 'ecdsa-sha2-nistp384');
    assert.deepEqual(sshPublicBlobOf(key), sshBlobFromKeyObject(publicKey));
    throwsCode(() => parseAgentSecretKey(sexp(['private-key', ['ecc', ['curve', 'brainpoolP256r1'], ['q', q], ['d', b64u(j.d)]]])), 'MS_AGENT_KEY_UNSUPPORTED');
    throwsCode(() => parseAgentSecretKey(sexp(['private-key', ['dsa', ['p', '1']]])), 'MS_AGENT_KEY_UNSUPPORTED', /neither RSA nor Ed25519/);
    throwsCode(() => parseAgentSecretKey(sexp(['public-key', ['rsa']])), 'MS_AGENT_KEY_MALFORMED');
  });
});

describe("agent-transfer's arguments (the original's parse_args)", () => {
  test('flags combine, -t takes the next argument, keygrip then comment', () => {
    const g = 'a'.repeat(40);
    assert.deepEqual(parseTransferArgs(['-ct', '60', g, 'my key']), { confirm: true, lifetime: 60, help: false, keygrip: g, comment: 'my key', extra: [] });
    assert.deepEqual(parseTransferArgs([g, '-c']), { confirm: true, help: false, keygrip: g, extra: [] });
    assert.equal(parseTransferArgs(['-h']).help, true);
    throwsCode(() => parseTransferArgs(['-t', '4294967296', g]), 'MS_AGENT_USAGE', /at most 4294967295/);
    throwsCode(() => parseTransferArgs(['-t', '-5', g]), 'MS_AGENT_USAGE', /must be > 0/);
    throwsCode(() => parseTransferArgs([g, 'c', 'd']), 'MS_AGENT_USAGE', /unrecognized argument d/);
    throwsCode(() => parseTransferArgs(['-c', g], { flagsOnly: true }), 'MS_AGENT_USAGE', /unrecognized argument/);
  });
});

/** A Unix-socket server answering each connection with `onConnection`. */
async function fakeServer(name: string, onConnection: (s: Socket) => void): Promise<{ path: string; server: Server }> {
  const path = join(dir, name);
  const server = createServer((s) => {
    open.add(s);
    s.once('close', () => open.delete(s));
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, server };
}

/** Server-side sockets still open: a silent server never reads, so never sees the client go. */
const open = new Set<Socket>();
const close = (server: Server) => {
  for (const s of open) s.destroy();
  return new Promise((r) => server.close(r));
};

describe('misbehaving ssh-agents', () => {
  test('a reply claiming 4 GiB is refused at once, not allocated', async () => {
    const { path, server } = await fakeServer('huge.sock', (s) => s.on('data', () => s.write(Buffer.from([0xff, 0xff, 0xff, 0xf0, 6]))));
    const agent = await SshAgentClient.connect(path);
    const started = Date.now();
    await rejectsCode(agent.listIdentities(), 'MS_AGENT_PROTOCOL', /4294967280 bytes/);
    assert.ok(Date.now() - started < 1000);
    agent.close();
    await close(server);
  });

  test('silence ends in a timeout', async () => {
    const { path, server } = await fakeServer('silent.sock', () => {});
    const agent = await SshAgentClient.connect(path, 300);
    await rejectsCode(agent.listIdentities(), 'MS_AGENT_TIMEOUT');
    agent.close();
    await close(server);
  });

  test('a refusal is the original\'s "did not claim success"; a lying identity count is caught', async () => {
    const { path, server } = await fakeServer('refuse.sock', (s) =>
      s.on('data', (d) => {
        if (d[4] === 11) s.write(Buffer.from([0, 0, 0, 5, 12, 0x7f, 0xff, 0xff, 0xff]));
        else s.write(Buffer.from([0, 0, 0, 1, 5]));
      }),
    );
    const agent = await SshAgentClient.connect(path);
    await rejectsCode(agent.addIdentity(Buffer.from('x'), 'c', { confirm: true }), 'MS_AGENT_SSH_AGENT_REFUSED', /^ssh-agent did not claim success \(expected: 6; got 5\)$/);
    await rejectsCode(agent.listIdentities(), 'MS_AGENT_PROTOCOL', /claims 2147483647 identities/);
    agent.close();
    await close(server);
  });

  test('an agent that hangs up mid-reply', async () => {
    const { path, server } = await fakeServer('hangup.sock', (s) => s.on('data', () => s.end(Buffer.from([0, 0]))));
    const agent = await SshAgentClient.connect(path);
    await rejectsCode(agent.removeIdentity(Buffer.from('k')), 'MS_AGENT_PROTOCOL', /failed to get 4 bytes from ssh-agent \(got 2\)/);
    agent.close();
    await close(server);
  });
});

describe('an Assuan server (a fake gpg-agent)', () => {
  /** Answers by command: each value is the lines to send back. */
  async function assuan(name: string, answers: Record<string, string[] | ((line: string) => string[])>) {
    return fakeServer(name, (s) => {
      s.write('OK Pleased to meet you\n');
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString('latin1');
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const a = answers[line.split(' ')[0]] ?? ['OK'];
          for (const out of typeof a === 'function' ? a(line) : a) s.write(Buffer.from(`${out}\n`, 'latin1'));
        }
      });
    });
  }

  test('data lines decoded and joined, status lines passed on, ERR as gpg-agent worded it, INQUIRE answered with END', async () => {
    const seen: string[] = [];
    const { path, server } = await assuan('gpg-agent.sock', {
      GETDATA: ['S PROGRESS 1', '# a comment', 'D %00%25%0A', 'D rest', 'OK'],
      EXPORT_KEY: ['ERR 67108881 No secret key <GPG Agent>'],
      HAVEKEY: ['ERR 67109144 IPC parameter error <GPG Agent> - invalid hexstring'],
      ASK: ['INQUIRE PASSPHRASE'],
      END: (l) => {
        seen.push(l);
        return ['OK'];
      },
    });
    const c = new AssuanClient(await connectUnix(path, 'gpg-agent', 5000), 'gpg-agent');
    await c.greeting();
    const status: string[] = [];
    assert.deepEqual(await c.transact('GETDATA', { status: (k, a) => status.push(`${k} ${a}`) }), Buffer.from('\0%\nrest'));
    assert.deepEqual(status, ['PROGRESS 1']);
    await assert.rejects(c.transact('EXPORT_KEY 00'), (e: unknown) => e instanceof MsError && e.code === 'MS_AGENT_NO_SECRET_KEY' && e.data.gpgError === 67108881 && e.data.gpgText === 'No secret key');
    await assert.rejects(c.transact('HAVEKEY x'), (e: unknown) => e instanceof MsError && e.code === 'MS_AGENT_GPG_AGENT_ERROR' && e.data.gpgText === 'IPC parameter error - invalid hexstring');
    assert.deepEqual(await c.transact('ASK'), Buffer.alloc(0));
    assert.deepEqual(seen, ['END']);
    await rejectsCode(c.transact('BAD\nCOMMAND'), 'MS_AGENT_PROTOCOL');
    c.close();
    await close(server);
  });

  test('an endless line or too much data is cut off', async () => {
    const { path, server } = await assuan('flood.sock', { LINE: [`D ${'x'.repeat(10_000)}`], DATA: Array.from({ length: 100 }, () => `D ${'y'.repeat(900)}`) });
    const c = new AssuanClient(await connectUnix(path, 'gpg-agent', 5000), 'gpg-agent');
    await c.greeting();
    await rejectsCode(c.transact('LINE'), 'MS_AGENT_PROTOCOL', /longer than 4096 bytes/);
    c.close();
    const d = new AssuanClient(await connectUnix(path, 'gpg-agent', 5000), 'gpg-agent');
    await d.greeting();
    await rejectsCode(d.transact('DATA', { maxData: 10_000 }), 'MS_AGENT_PROTOCOL', /more than 10000 bytes/);
    d.close();
    await close(server);
  });
});

