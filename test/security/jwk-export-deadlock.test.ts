/**
 * Hazard (issue 9, finding 12): on Node 20, exporting a freshly generated key as JWK
 * (and reading its asymmetricKeyDetails) can deadlock the process: the export holds the
 * key's mutex while allocating, and the garbage collection that allocation triggers
 * finalises the KeyGenJob of the same key, which waits for that mutex. Our code takes key
 * material from DER instead (src/util/key-material.ts). This file proves three things:
 * generating keys and using them through our code no longer hangs (in a child process
 * with a kill timeout, so a regression fails instead of hanging the suite); nothing under
 * src/ or bench/ calls the hazardous APIs; and the DER extraction gives exactly what JWK
 * gives (compared on re-imported keys, which are safe to export as JWK).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { UnsupportedError } from '../../src/errors.js';
import { keyPacketFor } from '../../src/openpgp/build.js';
import { formatOpenSshPrivateKey } from '../../src/ssh/openssh-private.js';
import { sshBlobFromKeyObject } from '../../src/ssh/public-key.js';
import { derBitString, derOctetString, derOid, derSeq, derTlv } from '../../src/util/der.js';
import { privateKeyMaterial, publicKeyMaterial } from '../../src/util/key-material.js';

const ROOT = new URL('../../', import.meta.url).pathname;
/** Far beyond an honest run (seconds); only there so that a hang fails instead of blocking CI. */
const HANG_GUARD_MS = 300_000;

test('generating keys and using them at once through our code does not hang', () => {
  // Before the fix, this hung within the Ed25519 loop on Node 20.20.2, nearly every run.
  const counts = { ed25519: 5000, ec: 3000, rsa: 200 };
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'test/security/key-generation-loop.ts'), String(counts.ed25519), String(counts.ec), String(counts.rsa)],
    { cwd: ROOT, encoding: 'utf8', timeout: HANG_GUARD_MS, killSignal: 'SIGKILL' },
  );
  assert.equal(child.signal, null, `killed after ${HANG_GUARD_MS} ms: hung after [${child.stdout.trim()}]`);
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(child.stdout.trim().split('\n'), [`ed25519: ${counts.ed25519} done`, `ecdsa P-256: ${counts.ec} done`, `rsa: ${counts.rsa} done`]);
});

describe('no hazardous key export in src/ or bench/', () => {
  /** The calls that lock a key while allocating, in `source` with comments removed. */
  function hazards(source: string): string[] {
    const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    const found: string[] = [];
    for (const m of code.matchAll(/\.export\s*\(/g)) {
      const args = balancedArgs(code, (m.index ?? 0) + m[0].length);
      if (/jwk/i.test(args)) found.push(`.export(${args})`);
    }
    for (const m of code.matchAll(/exportKey\s*\(\s*['"`]jwk|asymmetricKeyDetails/g)) found.push(m[0]);
    return found;
  }

  /** The text from `start` to the parenthesis that closes the one before it. */
  function balancedArgs(code: string, start: number): string {
    let depth = 1;
    for (let i = start; i < code.length; i++) {
      if (code[i] === '(') depth++;
      else if (code[i] === ')' && --depth === 0) return code.slice(start, i);
    }
    return code.slice(start);
  }

  function tsFiles(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile() && e.name.endsWith('.ts'))
      .map((e) => join(e.parentPath ?? e.path, e.name));
  }

  test('the scan finds the hazards it is looking for', () => {
    assert.equal(hazards("k.export({ format: 'jwk' })").length, 1);
    assert.equal(hazards("privateKey.export({\n  format: 'jwk',\n})").length, 1);
    assert.equal(hazards("const c = k.export({ format: 'jwk' }).crv;").length, 1);
    assert.equal(hazards("await subtle.exportKey('jwk', k)").length, 1);
    assert.equal(hazards('k.asymmetricKeyDetails?.namedCurve').length, 1);
    assert.deepEqual(hazards("k.export({ type: 'spki', format: 'der' }); createPublicKey({ key: jwk, format: 'jwk' })"), []);
    assert.deepEqual(hazards("// never k.export({ format: 'jwk' })\n/* nor asymmetricKeyDetails */"), []);
  });

  test('no file calls them', () => {
    const files = [...tsFiles(join(ROOT, 'src')), ...tsFiles(join(ROOT, 'bench'))];
    assert.ok(files.length > 50, 'the scan found the sources');
    const offenders = files.flatMap((f) => hazards(readFileSync(f, 'utf8')).map((h) => `${f.slice(ROOT.length)}: ${h}`));
    assert.deepEqual(offenders, []);
  });
});

describe('key material from DER equals what JWK gives', () => {
  const b64u = (b: Buffer) => b.toString('base64url');

  /** A generated key pair, and the JWK of the same private key re-imported (safe to export). */
  function generated(kind: 'ed25519' | 'P-256' | 'P-384' | 'P-521' | 'rsa'): { privateKey: KeyObject; publicKey: KeyObject; jwk: JsonWebKey } {
    const pair =
      kind === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : kind === 'rsa'
          ? generateKeyPairSync('rsa', { modulusLength: 2048 })
          : generateKeyPairSync('ec', { namedCurve: kind });
    const reimported = createPrivateKey({ key: pair.privateKey.export({ type: 'pkcs8', format: 'der' }), format: 'der', type: 'pkcs8' });
    return { ...pair, jwk: reimported.export({ format: 'jwk' }) };
  }

  test('Ed25519: public key and seed', () => {
    for (let i = 0; i < 20; i++) {
      const { privateKey, publicKey, jwk } = generated('ed25519');
      const m = privateKeyMaterial(privateKey);
      assert.ok(m.type === 'ed25519');
      assert.deepEqual([b64u(m.a), b64u(m.seed)], [jwk.x, jwk.d]);
      assert.deepEqual(publicKeyMaterial(publicKey), { type: 'ed25519', a: m.a });
    }
  });

  for (const curve of ['P-256', 'P-384', 'P-521'] as const) {
    test(`ECDSA ${curve}: curve, uncompressed point and private scalar`, () => {
      for (let i = 0; i < 20; i++) {
        const { privateKey, publicKey, jwk } = generated(curve);
        const m = privateKeyMaterial(privateKey);
        assert.ok(m.type === 'ec');
        const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
        assert.deepEqual([m.curve, b64u(m.point), b64u(m.d)], [jwk.crv, b64u(point), jwk.d]);
        assert.deepEqual(publicKeyMaterial(publicKey), { type: 'ec', curve: jwk.crv, point: m.point });
      }
    });
  }

  test('RSA: n, e, d, p, q and qi', () => {
    for (let i = 0; i < 5; i++) {
      const { privateKey, publicKey, jwk } = generated('rsa');
      const m = privateKeyMaterial(privateKey);
      assert.ok(m.type === 'rsa');
      assert.deepEqual([m.n, m.e, m.d, m.p, m.q, m.qi].map(b64u), [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.qi]);
      assert.deepEqual(publicKeyMaterial(publicKey), { type: 'rsa', n: m.n, e: m.e });
    }
  });

  test('an EC key imported with a compressed point gives the uncompressed point', () => {
    const { jwk } = generated('P-256');
    const x = Buffer.from(jwk.x ?? '', 'base64url');
    const y = Buffer.from(jwk.y ?? '', 'base64url');
    const compressed = Buffer.concat([Buffer.from([2 + (y[y.length - 1] & 1)]), x]);
    const p256 = derOid(Buffer.from('2a8648ce3d030107', 'hex'));
    const sec1 = derSeq(derTlv(0x02, Buffer.from([1])), derOctetString(Buffer.from(jwk.d ?? '', 'base64url')), derTlv(0xa0, p256), derTlv(0xa1, derBitString(compressed)));
    const key = createPrivateKey({ key: sec1, format: 'der', type: 'sec1' });
    // OpenSSL keeps the form it read: the SPKI holds the compressed point.
    assert.ok(createPublicKey(key).export({ type: 'spki', format: 'der' }).subarray(-33).equals(compressed));
    assert.deepEqual(publicKeyMaterial(key), { type: 'ec', curve: 'P-256', point: Buffer.concat([Buffer.from([4]), x, y]) });
  });

  test('other keys are named, and our builders refuse them with UnsupportedError', () => {
    const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    assert.equal(publicKeyMaterial(secp256k1).type, 'ec');
    assert.throws(() => sshBlobFromKeyObject(secp256k1), (e) => e instanceof UnsupportedError && e.code === 'MS_SSH_KEY_ALGORITHM' && /\(secp256k1\)/.test(e.message));
    assert.throws(() => keyPacketFor(secp256k1, 0), (e) => e instanceof UnsupportedError && e.code === 'MS_KEY_ALGORITHM');
    const others: Array<[KeyObject, string]> = [
      [generateKeyPairSync('ed448').privateKey, 'ed448'],
      [generateKeyPairSync('rsa-pss', { modulusLength: 1024 }).privateKey, 'rsa-pss'],
      [generateKeyPairSync('ec', { namedCurve: 'brainpoolP256r1' }).privateKey, 'ec'],
    ];
    for (const [key, keyType] of others) {
      assert.deepEqual(privateKeyMaterial(key), { type: 'other', keyType });
      assert.throws(() => sshBlobFromKeyObject(key), UnsupportedError);
      assert.throws(() => keyPacketFor(key, 0, { secret: true }), UnsupportedError);
      assert.throws(() => formatOpenSshPrivateKey(key), UnsupportedError);
    }
    assert.throws(() => privateKeyMaterial(generateKeyPairSync('ed25519').publicKey), /needs a private key/);
  });
});
