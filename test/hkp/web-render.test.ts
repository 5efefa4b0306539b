/**
 * The web pages' pure parts: escaping by default, hidden characters made visible, lookalike
 * scripts flagged, what a query's shape asks for, form bodies, the attestation digest, and
 * pages rendered from views with hostile text in every field.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { algorithmLabel, attestationDigest, capabilities, signatureClass } from '../../src/hkp/web/describe.js';
import { FormError, parseForm, parseMultipart } from '../../src/hkp/web/form.js';
import { escapeHtml, hasHiddenCharacters, html, mixedScripts, raw, showText } from '../../src/hkp/web/html.js';
import type { KeyView } from '../../src/hkp/web/key-view.js';
import { errorPage, keyPage, resultsPage, statsPage } from '../../src/hkp/web/pages.js';
import { parseQuery } from '../../src/hkp/web/query.js';
import { addressOf } from '../../src/openpgp/user-id.js';
import { signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import { KeyFlag, SigType } from '../../src/openpgp/signature.js';
import { NOW, Person } from '../auth/pki.js';

const HOSTILE = '<script>alert(1)</script>"\'&\u202E\u200B\u0000\u2066x';

describe('html', () => {
  test('interpolations are escaped; safe markup and lists pass; nothing and booleans vanish', () => {
    assert.equal(html`<p title="${'"x"'}">${'<b>&'}</p>`.value, '<p title="&quot;x&quot;">&lt;b&gt;&amp;</p>');
    assert.equal(html`${raw('<i>')}${['<', html`<b>`]}${undefined}${null}${false}${0}`.value, '<i>&lt;<b>0');
    assert.equal(escapeHtml(`'`), '&#39;');
  });

  test('showText: controls, bidi and zero-width characters become visible marks; text is isolated', () => {
    const shown = showText('a\u202Eb\u200Bc\u0007d\u00A0e\u2028f\u{E0001}g').value;
    assert.equal(
      shown,
      '<bdi>a<span class="cp" title="hidden character U+202E">U+202E</span>b<span class="cp" title="hidden character U+200B">U+200B</span>c<span class="cp" title="hidden character U+0007">U+0007</span>d<span class="cp" title="hidden character U+00A0">U+00A0</span>e<span class="cp" title="hidden character U+2028">U+2028</span>f<span class="cp" title="hidden character U+E0001">U+E0001</span>g</bdi>',
    );
    assert.equal(showText('plain ASCII, Ünïcødé, العربية, 日本').value, '<bdi>plain ASCII, Ünïcødé, العربية, 日本</bdi>');
    assert.equal(showText('<x>').value, '<bdi>&lt;x&gt;</bdi>');
    assert.ok(hasHiddenCharacters('x\u2066'));
    assert.ok(!hasHiddenCharacters('Zoë'));
    // A lone surrogate (lossy UTF-8 gives U+FFFD instead, but JS strings can hold one).
    assert.match(showText('a\uD800b').value, /U\+D800/);
  });

  test('mixedScripts: Latin and Cyrillic in one word, not in separate words', () => {
    assert.deepEqual(mixedScripts('p\u0430ypal <support@p\u0430ypal.com>'), ['Latin', 'Cyrillic']);
    assert.deepEqual(mixedScripts('\u0391lice'), ['Latin', 'Greek']);
    assert.deepEqual(mixedScripts('Ιωάννης <ioannis@example.gr>'), []);
    assert.deepEqual(mixedScripts('Алиса <alice@example.org>'), []);
    assert.deepEqual(mixedScripts('Zoë Ångström'), []);
  });
});

describe('query shapes', () => {
  const kind = (q: string) => parseQuery(q).kind;
  test('fingerprints, key IDs, addresses, exact user IDs, words', () => {
    assert.deepEqual(parseQuery('  '), { kind: 'empty' });
    assert.deepEqual(parseQuery('0123 4567 89ab CDEF 0123  4567 89AB CDEF 0123 4567'), { kind: 'fingerprint', hex: '0123456789ABCDEF0123456789ABCDEF01234567' });
    assert.deepEqual(parseQuery(`0x${'a'.repeat(64)}`), { kind: 'fingerprint', hex: 'A'.repeat(64) });
    assert.deepEqual(parseQuery('0xDEADBEEF'), { kind: 'keyid', hex: 'DEADBEEF' });
    assert.deepEqual(parseQuery('deadbeefcafebabe'), { kind: 'keyid', hex: 'DEADBEEFCAFEBABE' });
    assert.deepEqual(parseQuery('0x89ABCDEF0123'), { kind: 'keyid', hex: '89ABCDEF0123' });
    assert.equal(kind('0x12345'), 'invalid');
    assert.equal(kind('deadbeef cafebabe'), 'text');
    assert.equal(kind('decade'), 'text');
    assert.deepEqual(parseQuery('Alice@Example.org'), { kind: 'email', address: 'Alice@Example.org' });
    assert.deepEqual(parseQuery('<alice@example.org>'), { kind: 'email', address: 'alice@example.org' });
    assert.deepEqual(parseQuery('ssh://host.example.org'), { kind: 'exact', text: 'ssh://host.example.org' });
    assert.deepEqual(parseQuery('ssh://host.example.org:2222'), { kind: 'exact', text: 'ssh://host.example.org:2222' });
    assert.deepEqual(parseQuery('https://www.example.org'), { kind: 'exact', text: 'https://www.example.org' });
    assert.deepEqual(parseQuery('=Alice <alice@example.org>'), { kind: 'exact', text: 'Alice <alice@example.org>' });
    assert.deepEqual(parseQuery('Alice Liddell'), { kind: 'text', text: 'Alice Liddell' });
    assert.equal(kind('ab'), 'invalid');
    assert.equal(kind('x'.repeat(300)), 'invalid');
  });

  test('addressOf: the address in the last angle brackets, or the whole user ID', () => {
    assert.equal(addressOf('Alice <alice@example.org>'), 'alice@example.org');
    assert.equal(addressOf('alice@example.org'), 'alice@example.org');
    assert.equal(addressOf('ssh://host.example.org'), undefined);
    assert.equal(addressOf('Alice <not an address>'), undefined);
  });
});

describe('forms', () => {
  test('multipart: fields and files by name, the first of each name', () => {
    const body = Buffer.from(
      '--b0\r\nContent-Disposition: form-data; name="keytext"\r\n\r\nline1\r\nline2\r\n--b0\r\nContent-Disposition: form-data; name="keyfile"; filename="k.gpg"\r\nContent-Type: application/octet-stream\r\n\r\n\x99\x00\r\n--b0\r\nContent-Disposition: form-data; name="keytext"\r\n\r\nsecond\r\n--b0--\r\n',
      'latin1',
    );
    const f = parseMultipart(body, 'b0');
    assert.equal(f.get('keytext')!.value.toString(), 'line1\r\nline2');
    assert.deepEqual(f.get('keyfile'), { value: Buffer.from([0x99, 0x00]), filename: 'k.gpg' });
  });

  test('form-encoded; other media types and broken bodies are refused with their status', () => {
    assert.equal(parseForm('application/x-www-form-urlencoded', Buffer.from('keytext=a%2Bb+c&x=1')).get('keytext')!.value.toString(), 'a+b c');
    const refused = (type: string | undefined, body: string) => {
      try {
        parseForm(type, Buffer.from(body));
      } catch (err) {
        assert.ok(err instanceof FormError);
        return err.status;
      }
      return 0;
    };
    assert.equal(refused('text/plain', 'x'), 415);
    assert.equal(refused(undefined, 'x'), 415);
    assert.equal(refused('multipart/form-data', 'x'), 400);
    assert.equal(refused('multipart/form-data; boundary=q', '--q\r\nno end'), 400);
    assert.equal(refused('multipart/form-data; boundary=q', '--q\r\n\r\n\r\nabc'), 400);
    const many = `${'--q\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n'.repeat(20)}--q--`;
    assert.equal(refused('multipart/form-data; boundary=q', many), 400);
  });
});

describe('describe', () => {
  test('algorithms, capabilities, classes', () => {
    const p = new Person(['D <d@example.org>']);
    assert.equal(algorithmLabel(p.primary), 'EdDSA ed25519 (255 bits)');
    assert.equal(algorithmLabel(new Person(['R <r@example.org>'], { alg: 'rsa' }).primary), 'RSA 2048');
    assert.deepEqual(capabilities(KeyFlag.Certify | KeyFlag.Sign), ['sign', 'certify']);
    assert.deepEqual(capabilities(KeyFlag.EncryptStorage | KeyFlag.Authenticate), ['encrypt', 'authenticate']);
    assert.equal(signatureClass(SigType.CasualCert), 'casual certification');
    assert.equal(signatureClass(0x50), 'signature class 0x50');
  });

  test('the attestation digest ignores the unhashed area (1PA3PC)', () => {
    const a = new Person(['A <a@example.org>']);
    const b = new Person(['B <b@example.org>']);
    const user = userIdPacket('A <a@example.org>');
    const opts = { type: SigType.GenericCert, signer: b.primary, privateKey: b.privateKey, hashed: [sp.created(NOW), sp.issuerFingerprint(b.primary)] };
    const withIssuer = signV4({ kind: 'user', primary: a.primary, user }, opts);
    const bare = signV4({ kind: 'user', primary: a.primary, user }, { ...opts, unhashed: [] });
    const d1 = attestationDigest(withIssuer, 8)!;
    // Ed25519 signatures are deterministic: the same hashed data, the same signature, whatever is unhashed.
    assert.deepEqual(d1, attestationDigest(bare, 8));
    assert.equal(d1.length, 32);
    assert.equal(attestationDigest(withIssuer, 10)!.length, 64);
    assert.equal(attestationDigest(withIssuer, 99), undefined);
  });
});

function hostileView(): KeyView {
  const info = { fpr: 'A'.repeat(40), keyId: 'A'.repeat(16), version: 4, algorithm: HOSTILE, created: NOW };
  return {
    ...info,
    status: 'revoked',
    revocation: { time: NOW, hard: true, reason: { code: 2, text: HOSTILE }, by: info.fpr },
    capabilities: ['certify'],
    problems: [HOSTILE],
    revokers: [{ fpr: 'D'.repeat(40), onServer: false, sensitive: false }],
    certified: [{ fpr: 'E'.repeat(40), userId: HOSTILE, trust: true }],
    certifiedMore: 3,
    userIds: [
      {
        kind: 'userid',
        text: HOSTILE,
        size: 10,
        status: 'valid',
        primary: true,
        selfSigned: NOW,
        certifications: [
          {
            issuerKeyId: 'B'.repeat(16),
            issuerFpr: 'B'.repeat(40),
            issuerOnServer: true,
            issuerName: HOSTILE,
            issuerStatus: 'expired',
            type: 0x10,
            created: NOW,
            outcome: 'rejected',
            reason: HOSTILE,
            attested: false,
            revokedByIssuer: false,
            trust: { level: 1, amount: 60 },
            regexes: [HOSTILE],
            exportable: false,
          },
        ],
        certificationCount: 1,
        verifiedCount: 0,
        attestedCount: 0,
        notExamined: 0,
      },
    ],
    userIdsHidden: 0,
    subkeys: [{ ...info, status: 'expired', capabilities: [], problems: [HOSTILE] }],
    subkeysHidden: 0,
    size: 1,
    held: 2,
    stored: { created: NOW, updated: NOW },
    now: NOW,
  };
}

describe('pages', () => {
  const assertClean = (given: string) => {
    // The search box gives back the query as typed (escaped): searching again must find the same.
    const page = given.replace(/ value="[^"]*"/, '');
    assert.ok(!page.includes('<script>alert'), 'no markup from the input');
    assert.ok(!page.includes('\u202E') && !page.includes('\u200B') && !page.includes('\u0000') && !page.includes('\u2066'), 'no hidden characters');
    // Our own script element is the only one, and from a file.
    assert.equal((page.match(/<script/g) ?? []).length, 1);
  };

  test('a key page with hostile text in every field', () => {
    const page = keyPage(hostileView());
    assertClean(page);
    assert.match(page, /trust signature: depth 1, amount 60/);
    assert.match(page, /local \(not exportable\)/);
    assert.match(page, />issuer expired</);
    assert.match(page, />rejected</);
  });

  test('a long user ID is cut, with its length said; its warnings still count the whole text', () => {
    const long = `${'a'.repeat(300)}\u202E${'b'.repeat(5000)}`;
    const view = hostileView();
    view.userIds[0].text = long;
    const page = keyPage(view);
    assert.ok(page.includes(`<bdi>${'a'.repeat(256)}</bdi><span class="muted"> … (5301 characters in all)</span>`));
    assert.ok(!page.includes('b'.repeat(10)));
    assert.match(page, />hidden characters</);
  });

  test('results, stats and error pages with hostile text', () => {
    assertClean(
      resultsPage({
        input: HOSTILE,
        query: { kind: 'text', text: HOSTILE },
        rows: [{ fpr: 'C'.repeat(40), keyId: 'C'.repeat(16), version: 4, algorithm: 'RSA 3072', created: NOW, status: 'valid', userIds: [{ text: HOSTILE, status: 'valid', primary: true }], userIdsHidden: 3, subkeyCount: 1 }],
        more: true,
        limit: 1,
      }),
    );
    assertClean(statsPage({ count: 1, latest: 1, now: NOW, changes: [{ seq: 1, fpr: 'C'.repeat(40), at: NOW, kind: 'new', userId: HOSTILE, present: true }] }));
    assertClean(errorPage(HOSTILE, HOSTILE, HOSTILE));
  });
});
