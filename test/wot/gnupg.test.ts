/**
 * Parsing GnuPG's trust settings: `gpg --export-ownertrust` text and gpg.conf's trust
 * options, with the errors a malformed line gives.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/errors.js';
import { normalizeKeyHandle, parseGpgConf, parseOwnertrust } from '../../src/gnupg/config.js';

const A = 'CEBB52301D617E910390FE16587979573442684E';
const B = '2D1C258A98AD42585E139485B3234FB7404B91C7';

describe('parseOwnertrust', () => {
  it('reads gpg --export-ownertrust output, comments and flags included', () => {
    const text = `# List of assigned trustvalues, created Sun 15 Jan 2023\n# (Use "gpg --import-ownertrust" to restore them)\n${A}:6:\n${B.toLowerCase()}:133:\n\n`;
    const m = parseOwnertrust(text);
    assert.deepEqual([...m], [
      [A, 6],
      [B, 133],
    ]);
    assert.equal((m.get(B) ?? 0) & 15, 5, 'the disabled flag (128) is kept; & 15 is the trust value');
  });
  it('names the line of a malformed entry', () => {
    assert.throws(
      () => parseOwnertrust(`${A}:6:\nnot a line\n`, 'trust.txt'),
      (e: unknown) => e instanceof InputError && e.code === 'MS_WOT_OWNERTRUST' && /^trust\.txt:2: /.test(e.message),
    );
    assert.throws(() => parseOwnertrust(`${A}:999:\n`), InputError);
  });
});

describe('parseGpgConf', () => {
  it('reads the trust options and ignores the rest; the last occurrence wins', () => {
    const conf = parseGpgConf(
      [
        '# comment',
        'keyserver hkps://keys.openpgp.org',
        'marginals-needed 2',
        'completes-needed 2',
        'max-cert-depth 3',
        'max-cert-depth 4',
        'min-cert-level 1',
        'trust-model PGP',
        `trusted-key 0x${A.slice(-16)}`,
        `trusted-key ${B}`,
        'no-auto-check-trustdb',
      ].join('\n'),
    );
    assert.deepEqual(conf, { marginalsNeeded: 2, completesNeeded: 2, maxCertDepth: 4, minCertLevel: 1, trustModel: 'pgp', trustedKeys: [`0x${A.slice(-16)}`, B] });
  });
  it('rejects values gpg rejects', () => {
    assert.throws(() => parseGpgConf('marginals-needed 1\n', 'g.conf'), /g\.conf:1: marginals-needed needs a number from 2 to 255/);
    assert.throws(() => parseGpgConf('max-cert-depth many\n'), InputError);
  });
});

describe('normalizeKeyHandle', () => {
  it('accepts fingerprints as people type them', () => {
    assert.equal(normalizeKeyHandle('0xcebb 5230 1d61'), 'CEBB52301D61');
  });
});
