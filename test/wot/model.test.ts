/**
 * GnuPG's classic model, rule by rule, on hand-made summaries: each case asserts the
 * validity letter and the explanation a person (text) and a program (JSON) receive.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explanationJson, formatExplanation } from '../../src/wot/format.js';
import { TrustNetwork } from '../../src/wot/network.js';
import { DAY, domainRegex, FULL, MARGINAL, NEVER, NOW, T0, Web } from './web.js';

function letters(net: TrustNetwork, web: Web, names: string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((n) => [n, net.validity(web.fpr(n), web.uid(n))]));
}

function text(net: TrustNetwork, web: Web, name: string, uid = 0): string {
  return formatExplanation(net.explain(web.fpr(name), web.uid(name, uid)));
}

describe('roots and ownertrust', () => {
  it('a root validates what it certifies; the path is root → binding', async () => {
    const w = new Web();
    w.key('alice');
    w.key('bob');
    w.certify('alice', 'bob');
    const net = await w.compute({ roots: ['alice'] });
    assert.deepEqual(letters(net, w, ['alice', 'bob']), { alice: 'u', bob: 'f' });
    const e = net.explain(w.fpr('bob'), w.uid('bob'));
    assert.equal(e.valid, true);
    assert.equal(e.paths.length, 1);
    assert.deepEqual(
      e.paths[0].nodes.map((n) => n.role),
      ['root', 'target'],
    );
    const t = text(net, w, 'bob');
    assert.match(t, /^\[✓\] [0-9A-F]{40} "bob <bob@example.com>": fully valid \(f\)/);
    assert.match(t, /Path 1 of 1:\n {6}◯ [0-9A-F]{40} "alice <alice@example.com>" \(ultimately trusted root\)\n {6}│ {3}certified on 2023-01-01\n {6}└ [0-9A-F]{40} "bob <bob@example.com>"/);
    assert.match(t, /✓ [0-9A-F]{40} "alice <alice@example.com>" 2023-01-01: counted: issued by an ultimately trusted root \(depth 0\)/);
    assert.match(text(net, w, 'alice'), /the key is an ultimately trusted root/);
  });

  it('one full introducer suffices; marginals need three; the count is explained', async () => {
    const w = new Web();
    w.key('root');
    for (const n of ['m1', 'm2', 'm3', 'f1']) {
      w.key(n);
      w.certify('root', n);
    }
    w.key('two');
    w.certify('m1', 'two');
    w.certify('m2', 'two');
    w.key('three');
    for (const n of ['m1', 'm2', 'm3']) w.certify(n, 'three');
    w.key('viafull');
    w.certify('f1', 'viafull');
    const net = await w.compute({ roots: ['root'], ownertrust: { m1: MARGINAL, m2: MARGINAL, m3: MARGINAL, f1: FULL } });
    assert.deepEqual(letters(net, w, ['two', 'three', 'viafull']), { two: 'm', three: 'f', viafull: 'f' });
    const two = net.explain(w.fpr('two'), w.uid('two'));
    assert.deepEqual(two.reasons, [{ code: 'not-enough', full: 0, marginal: 2, completesNeeded: 1, marginalsNeeded: 3 }]);
    assert.match(formatExplanation(two), /only 2 of 3 marginal introducers/);
    assert.equal(two.paths.length, 2, 'marginal paths are still shown');
    const three = net.explain(w.fpr('three'), w.uid('three'));
    assert.equal(three.paths.length, 3);
    assert.equal(three.paths[0].nodes.length, 3);
    assert.match(formatExplanation(three), /├ [0-9A-F]{40} "m\d <m\d@example.com>" \(marginal ownertrust\)/);
    // marginals-needed 2 makes two marginals enough.
    const net2 = await w.compute({ roots: ['root'], ownertrust: { m1: MARGINAL, m2: MARGINAL }, marginalsNeeded: 2 });
    assert.equal(net2.validity(w.fpr('two'), w.uid('two')), 'f');
    // completes-needed 2: one full introducer gives only marginal validity.
    const net3 = await w.compute({ roots: ['root'], ownertrust: { f1: FULL }, completesNeeded: 2 });
    assert.equal(net3.validity(w.fpr('viafull'), w.uid('viafull')), 'm');
    assert.match(text(net3, w, 'viafull'), /1 of 2 fully trusted introducers; only 0 of 3 marginal introducers/);
  });

  it('an introducer without ownertrust counts for nothing: q', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob');
    w.key('carol');
    w.certify('root', 'bob');
    w.certify('bob', 'carol');
    const net = await w.compute({ roots: ['root'], ownertrust: { bob: NEVER } });
    assert.equal(net.validity(w.fpr('carol'), w.uid('carol')), 'q');
    const t = text(net, w, 'carol');
    assert.match(t, /not valid \(signed, but nothing counted\) \(q\)/);
    assert.match(t, /no path: it is certified only by introducers without ownertrust/);
    assert.match(t, /counts for nothing: the issuer is a valid introducer but its ownertrust is never/);
  });

  it('only fully valid keys introduce: a marginally valid key with full ownertrust does not', async () => {
    const w = new Web();
    w.key('root');
    for (const n of ['m1', 'bob', 'carol']) w.key(n);
    w.certify('root', 'm1');
    w.certify('m1', 'bob');
    w.certify('bob', 'carol');
    const net = await w.compute({ roots: ['root'], ownertrust: { m1: MARGINAL, bob: FULL } });
    assert.deepEqual(letters(net, w, ['bob', 'carol']), { bob: 'm', carol: '-' });
    const t = text(net, w, 'carol');
    assert.match(t, /no path: no certification on it comes from an introducer/);
    assert.match(t, /issuer is not an introducer: its validity is m \(marginally valid\); only fully valid keys introduce/);
  });

  it('max-cert-depth limits chains to five certifications', async () => {
    const w = new Web();
    const names = ['root', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6'];
    for (const n of names) w.key(n);
    for (let i = 1; i < names.length; i++) w.certify(names[i - 1], names[i]);
    const ot = Object.fromEntries(names.slice(1).map((n) => [n, FULL]));
    const net = await w.compute({ roots: ['root'], ownertrust: ot });
    assert.deepEqual(letters(net, w, names), { root: 'u', k1: 'f', k2: 'f', k3: 'f', k4: 'f', k5: 'f', k6: '-' });
    assert.match(text(net, w, 'k6'), /issuer is 5 certifications away from a root, beyond max-cert-depth 5/);
    const longest = net.explain(w.fpr('k5'), w.uid('k5'));
    assert.equal(longest.paths[0].edges.length, 5);
    const net2 = await w.compute({ roots: ['root'], ownertrust: ot, maxCertDepth: 2 });
    assert.deepEqual(letters(net2, w, ['k2', 'k3']), { k2: 'f', k3: '-' });
  });

  it("the key's letter is the best of its user IDs; r and e win", async () => {
    const w = new Web();
    w.key('root');
    w.key('bob', ['Bob <bob@a.org>', 'Bob <bob@b.org>']);
    w.key('gone', ['Gone <gone@a.org>'], { status: 'revoked', revocation: { time: T0, reason: 'key compromised' } });
    w.key('old', ['Old <old@a.org>'], { status: 'expired', expires: T0 });
    w.certify('root', 'bob', { uid: 1 });
    w.certify('root', 'gone');
    w.certify('root', 'old');
    const net = await w.compute({ roots: ['root'] });
    assert.equal(net.validity(w.fpr('bob'), 'Bob <bob@a.org>'), '-');
    assert.equal(net.validity(w.fpr('bob'), 'Bob <bob@b.org>'), 'f');
    assert.equal(net.keyValidity(w.fpr('bob')), 'f');
    assert.equal(net.keyValidity(w.fpr('gone')), 'r');
    assert.equal(net.validity(w.fpr('gone'), w.uid('gone')), 'r');
    assert.match(text(net, w, 'gone'), /the key is revoked \(since 2023-01-01\): key compromised/);
    assert.equal(net.validity(w.fpr('old'), w.uid('old')), 'e');
    assert.match(text(net, w, 'old'), /the key expired on 2023-01-01/);
  });
});

describe('user IDs', () => {
  it('revoked and expired user IDs are never valid; their certifications are ignored', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob', [{ text: 'Bob <bob@old.org>', status: 'revoked', revokedAt: T0 + DAY }, { text: 'Bob <bob@exp.org>', status: 'expired', expires: T0 + 2 * DAY }, 'Bob <bob@new.org>']);
    for (const uid of [0, 1, 2]) w.certify('root', 'bob', { uid });
    const net = await w.compute({ roots: ['root'] });
    assert.equal(net.validity(w.fpr('bob'), 'Bob <bob@old.org>'), 'r');
    assert.equal(net.validity(w.fpr('bob'), 'Bob <bob@exp.org>'), 'e');
    assert.equal(net.validity(w.fpr('bob'), 'Bob <bob@new.org>'), 'f');
    assert.match(formatExplanation(net.explain(w.fpr('bob'), 'Bob <bob@old.org>')), /the user ID is revoked \(since 2023-01-02\)/);
    assert.match(formatExplanation(net.explain(w.fpr('bob'), 'Bob <bob@exp.org>')), /the user ID expired on 2023-01-03/);
  });

  it('a user ID without a valid self-signature is never valid', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob', [{ text: 'Bob <bob@x.org>', status: 'invalid' }]);
    w.certify('root', 'bob');
    const net = await w.compute({ roots: ['root'] });
    assert.equal(net.validity(w.fpr('bob'), 'Bob <bob@x.org>'), '-');
    assert.match(text(net, w, 'bob'), /the user ID has no valid self-signature/);
  });

  it('unknown keys and user IDs are answers, not errors', async () => {
    const w = new Web();
    w.key('root');
    const net = await w.compute({ roots: ['root'] });
    assert.deepEqual(net.explain('00'.repeat(20), 'x').reasons, [{ code: 'key-not-found' }]);
    assert.deepEqual(net.explain(w.fpr('root'), 'nobody').reasons, [{ code: 'userid-not-found' }]);
    assert.equal(net.validity(w.fpr('root'), 'nobody'), undefined);
  });
});

describe('certification selection (mark_usable_uid_certs)', () => {
  it('the newest certification per issuer wins; older ones are superseded', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob');
    w.certify('root', 'bob', { created: T0 });
    w.certify('root', 'bob', { created: T0 + DAY, type: 0x13 });
    const net = await w.compute({ roots: ['root'] });
    const e = net.explain(w.fpr('bob'), w.uid('bob'));
    assert.equal(e.validity, 'f');
    assert.deepEqual(
      e.certifications.map((c) => c.verdict.code),
      ['superseded', 'counted'],
    );
    assert.match(formatExplanation(e), /superseded by the issuer's newer signature of 2023-01-02/);
  });

  it('an expired newest certification gives no fallback to an older one', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob');
    w.certify('root', 'bob', { created: T0 });
    w.certify('root', 'bob', { created: T0 + DAY, expires: T0 + 2 * DAY });
    const net = await w.compute({ roots: ['root'] });
    assert.equal(net.validity(w.fpr('bob'), w.uid('bob')), '-');
    const t = text(net, w, 'bob');
    assert.match(t, /certification expired on 2023-01-03/);
    assert.match(t, /superseded by the issuer's newer signature of 2023-01-02/);
  });

  it('a newer certification revocation (0x30) revokes; an older one does not', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob');
    w.key('carol');
    w.certify('root', 'bob', { created: T0 });
    w.revoke('root', 'bob', { created: T0 + DAY });
    w.revoke('root', 'carol', { created: T0 });
    w.certify('root', 'carol', { created: T0 + DAY });
    const net = await w.compute({ roots: ['root'] });
    assert.deepEqual(letters(net, w, ['bob', 'carol']), { bob: '-', carol: 'f' });
    assert.match(text(net, w, 'bob'), /certification revoked by its issuer on 2023-01-02/);
  });

  it('a non-revocable, unexpired certification survives a later revocation', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob');
    w.certify('root', 'bob', { created: T0, revocable: false });
    w.revoke('root', 'bob', { created: T0 + DAY });
    const net = await w.compute({ roots: ['root'] });
    assert.equal(net.validity(w.fpr('bob'), w.uid('bob')), 'f');
  });

  it('a newer signature that fails verification or policy does not shadow an older good one', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob');
    w.key('carol');
    w.certify('root', 'bob', { created: T0 - DAY * 3000 });
    w.certify('root', 'bob', { created: T0, hash: 2, outcome: 'rejected', policyReason: 'SHA-1 certification made after 2019-01-19' });
    w.certify('root', 'carol', { created: T0, hash: 2, outcome: 'rejected', policyReason: 'SHA-1 certification made after 2019-01-19' });
    w.certify('root', 'carol', { created: T0, outcome: 'bad', policyReason: 'bad signature' });
    const net = await w.compute({ roots: ['root'] });
    assert.deepEqual(letters(net, w, ['bob', 'carol']), { bob: 'f', carol: '-' });
    const t = text(net, w, 'carol');
    assert.match(t, /rejected: SHA-1 certification made after 2019-01-19/);
    assert.match(t, /: bad signature/);
  });

  it('persona certifications (0x11) are ignored by default; 0x12 and 0x13 count', async () => {
    const w = new Web();
    w.key('root');
    for (const [n, type] of [
      ['p', 0x11],
      ['c', 0x12],
      ['q', 0x13],
    ] as const) {
      w.key(n);
      w.certify('root', n, { type });
    }
    const net = await w.compute({ roots: ['root'] });
    assert.deepEqual(letters(net, w, ['p', 'c', 'q']), { p: '-', c: 'f', q: 'f' });
    assert.match(text(net, w, 'p'), /persona certification \(0x11\), ignored below min-cert-level 2/);
    const lenient = await w.compute({ roots: ['root'], minCertLevel: 1 });
    assert.equal(lenient.validity(w.fpr('p'), w.uid('p')), 'f');
  });

  it('local (non-exportable) certifications count', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob');
    w.certify('root', 'bob', { exportable: false });
    const net = await w.compute({ roots: ['root'] });
    assert.equal(net.validity(w.fpr('bob'), w.uid('bob')), 'f');
    assert.match(text(net, w, 'bob'), /certified on 2023-01-01, local/);
  });

  it('revoked or expired issuers, roots included, validate nobody', async () => {
    const w = new Web();
    w.key('root', undefined, { status: 'revoked', revocation: { time: T0 } });
    w.key('root2');
    w.key('gone', undefined, { status: 'expired', expires: T0 });
    w.key('bob');
    w.key('carol');
    w.certify('root', 'bob');
    w.certify('root2', 'gone');
    w.certify('gone', 'carol');
    const net = await w.compute({ roots: ['root', 'root2'], ownertrust: { gone: FULL } });
    assert.deepEqual(letters(net, w, ['root', 'bob', 'carol']), { root: 'r', bob: '-', carol: '-' });
    assert.match(text(net, w, 'bob'), /issuer is revoked/);
    assert.match(text(net, w, 'carol'), /issuer is expired/);
  });

  it('certifications by keys outside the keyring are reported', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob');
    w.get('bob').userIds[0].certifications.push({
      issuerKeyId: '0123456789ABCDEF',
      type: 0x10,
      created: T0,
      regexes: [],
      exportable: true,
      revocable: true,
      hashAlgorithm: 8,
      outcome: 'no-key',
    });
    const net = await w.compute({ roots: ['root'] });
    assert.match(text(net, w, 'bob'), /✗ 0123456789ABCDEF 2023-01-01: issuer is not in the keyring/);
  });
});

describe('trust signatures', () => {
  it('a root’s tsig makes an introducer without ownertrust; depth limits delegation', async () => {
    const w = new Web();
    for (const n of ['root', 'carol', 'dave', 'erin']) w.key(n);
    w.certify('root', 'carol', { tsig: [1, 120] });
    w.certify('carol', 'dave', { tsig: [1, 120] });
    w.certify('dave', 'erin');
    const net = await w.compute({ roots: ['root'] });
    // carol may certify (level 1) but not delegate: dave is valid, without ownertrust.
    assert.deepEqual(letters(net, w, ['carol', 'dave', 'erin']), { carol: 'f', dave: 'f', erin: 'q' });
    const t = text(net, w, 'dave');
    assert.match(t, /◯ [0-9A-F]{40} "root <root@example.com>" \(ultimately trusted root\)\n {6}│ {3}trust-signed \(depth 1, amount 120\) on 2023-01-01/);
    assert.match(t, /├ [0-9A-F]{40} "carol <carol@example.com>" \(full introducer by trust signature \(amount 120, may delegate 0 more levels\)\)/);
  });

  it('depth 2 lets the delegate delegate; amounts map to full, marginal, nothing', async () => {
    const w = new Web();
    for (const n of ['root', 'carol', 'd60', 'd59', 'd120', 'x1', 'x2', 'x3']) w.key(n);
    w.certify('root', 'carol', { tsig: [2, 120] });
    w.certify('carol', 'd60', { tsig: [5, 60] });
    w.certify('carol', 'd59', { tsig: [1, 59] });
    w.certify('carol', 'd120', { tsig: [1, 120] });
    w.certify('d60', 'x1');
    w.certify('d59', 'x2');
    w.certify('d120', 'x3');
    const net = await w.compute({ roots: ['root'] });
    assert.deepEqual(letters(net, w, ['x1', 'x2', 'x3']), { x1: 'm', x2: 'q', x3: 'f' });
    // carol's depth-5 tsig is capped by her own remaining depth (1): d60 cannot delegate further.
    const d60 = net.explain(w.fpr('x1'), w.uid('x1')).paths[0].nodes[2];
    assert.equal(d60.trustDepth, 0);
    assert.equal(d60.trustAmount, 60);
  });

  it('a trust signature raises ownertrust to its minimum, even over "never"', async () => {
    const w = new Web();
    for (const n of ['root', 'carol', 'x']) w.key(n);
    w.certify('root', 'carol', { tsig: [1, 60] });
    w.certify('carol', 'x');
    const net = await w.compute({ roots: ['root'], ownertrust: { carol: NEVER } });
    assert.equal(net.validity(w.fpr('x'), w.uid('x')), 'm');
  });

  it('only roots start delegation chains: a fully trusted key’s tsig is a plain certification', async () => {
    const w = new Web();
    for (const n of ['root', 'bob', 'frank', 'gil']) w.key(n);
    w.certify('root', 'bob');
    w.certify('bob', 'frank', { tsig: [1, 120] });
    w.certify('frank', 'gil');
    const net = await w.compute({ roots: ['root'], ownertrust: { bob: FULL } });
    assert.deepEqual(letters(net, w, ['frank', 'gil']), { frank: 'f', gil: 'q' });
  });

  it('a scope limits what the delegate may certify (case-insensitively)', async () => {
    const w = new Web();
    w.key('root');
    w.key('carol', ['Carol <carol@example.org>']);
    w.key('dave', ['Dave <dave@example.org>']);
    w.key('frank', ['Frank <frank@other.org>']);
    w.key('gina', ['Gina <gina@EXAMPLE.ORG>']);
    w.certify('root', 'carol', { tsig: [1, 120], regex: domainRegex('example.org') });
    for (const n of ['dave', 'frank', 'gina']) w.certify('carol', n);
    const net = await w.compute({ roots: ['root'] });
    assert.deepEqual(letters(net, w, ['dave', 'frank', 'gina']), { dave: 'f', frank: '-', gina: 'f' });
    const t = text(net, w, 'frank');
    assert.match(t, /✗ [0-9A-F]{40} "Carol <carol@example.org>" 2023-01-01: scope example.org of the introducer does not match/);
    assert.match(text(net, w, 'dave'), /├ [0-9A-F]{40} "Carol <carol@example.org>" \(full introducer by trust signature \(amount 120, may delegate 0 more levels\); scope example.org\)/);
  });

  it('net2: GnuPG forgets a scope one level down; we do not (ivan refused, gina valid)', async () => {
    const w = new Web();
    w.key('alice', ['alice <alice@example.com>']);
    w.key('carol', ['carol <carol@example.org>']);
    w.key('henry', ['henry <henry@example.org>']);
    w.key('ivan', ['ivan <ivan@other.org>']);
    w.key('gina', ['gina <gina@EXAMPLE.ORG>']);
    w.certify('alice', 'carol', { tsig: [2, 120], regex: domainRegex('example.org') });
    w.certify('carol', 'henry', { tsig: [1, 120] });
    w.certify('henry', 'ivan');
    w.certify('carol', 'gina');
    const net = await w.compute({ roots: ['alice'] });
    const gnupg = await w.compute({ roots: ['alice'], model: 'gnupg' });
    assert.deepEqual(letters(gnupg, w, ['henry', 'ivan', 'gina']), { henry: 'f', ivan: 'f', gina: 'f' });
    assert.deepEqual(letters(net, w, ['henry', 'ivan', 'gina']), { henry: 'f', ivan: '-', gina: 'f' });
    const e = net.explain(w.fpr('ivan'), w.uid('ivan'));
    assert.equal(e.gnupgValidity, 'f');
    assert.deepEqual(
      e.reasons.map((r) => r.code),
      ['no-introducer', 'stricter-than-gnupg'],
    );
    const v = e.certifications[0].verdict;
    assert.equal(v.code, 'scope-mismatch');
    assert.equal(v.code === 'scope-mismatch' && v.inherited, true);
    const t = formatExplanation(e);
    assert.match(t, /GnuPG 2\.2 would rate it f \(fully valid\); refused because a trust signature's scope binds the whole delegation chain/);
    assert.match(t, /✗ [0-9A-F]{40} "henry <henry@example.org>" 2023-01-01: scope example.org inherited down the delegation chain does not match \(GnuPG forgets it; we do not\)/);
    const json = explanationJson(e) as { reasons: Array<{ code: string; message: string }>; certifications: Array<{ verdict: { code: string; message: string } }> };
    assert.equal(json.reasons[1].code, 'stricter-than-gnupg');
    assert.match(json.certifications[0].verdict.message, /inherited down the delegation chain/);
    // henry's path shows the inherited scope.
    const henryPath = net.explain(w.fpr('gina'), w.uid('gina')).paths[0];
    assert.deepEqual(
      henryPath.nodes.map((n) => n.role),
      ['root', 'introducer', 'target'],
    );
  });

  it('several regexes must all match (GnuPG reads only the first)', async () => {
    const w = new Web();
    w.key('root');
    w.key('carol', ['carol <carol@example.org>']);
    w.key('dave', ['dave <dave@example.org>']);
    w.certify('root', 'carol', { tsig: [1, 120], regex: [domainRegex('example.org'), domainRegex('example.net')] });
    w.certify('carol', 'dave');
    const gnupg = await w.compute({ roots: ['root'], model: 'gnupg' });
    const net = await w.compute({ roots: ['root'] });
    assert.equal(gnupg.validity(w.fpr('dave'), w.uid('dave')), 'f');
    assert.equal(net.validity(w.fpr('dave'), w.uid('dave')), '-');
  });

  it('a user ID with control characters never matches a scope', async () => {
    const w = new Web();
    w.key('root');
    w.key('carol', ['carol <carol@example.org>']);
    w.key('dave', ['dave\n <dave@example.org>']);
    w.certify('root', 'carol', { tsig: [1, 120], regex: domainRegex('example.org') });
    w.certify('carol', 'dave');
    assert.equal((await w.compute({ roots: ['root'], model: 'gnupg' })).validity(w.fpr('dave'), w.uid('dave')), 'f');
    assert.equal((await w.compute({ roots: ['root'] })).validity(w.fpr('dave'), w.uid('dave')), '-');
  });

  it('with several trust signatures on a key, the last one processed wins (keyblock order)', async () => {
    const w = new Web();
    w.key('r1');
    w.key('r2');
    w.key('carol', ['carol <c1@x.org>', 'carol <c2@x.org>']);
    w.key('x');
    w.certify('r1', 'carol', { uid: 0, tsig: [1, 120] });
    w.certify('r2', 'carol', { uid: 1, tsig: [1, 60] });
    w.certify('carol', 'x');
    const net = await w.compute({ roots: ['r1', 'r2'] });
    assert.equal(net.validity(w.fpr('x'), w.uid('x')), 'm');
  });
});

describe('bad input is handled, never a crash or hang', () => {
  it('unparseable regex, depth 255, amount 0, tsig cycles, self-certification', async () => {
    const w = new Web();
    for (const n of ['root', 'a', 'b', 'c', 'd', 'e']) w.key(n, [`${n} <${n}@example.org>`]);
    w.certify('root', 'a', { tsig: [255, 120] });
    w.certify('a', 'b', { tsig: [255, 120] });
    w.certify('b', 'a', { tsig: [255, 120] });
    w.certify('b', 'c', { tsig: [1, 0] });
    w.certify('c', 'd');
    w.certify('root', 'e', { tsig: [1, 120], regex: 'example\\' });
    w.certify('e', 'd');
    w.certify('d', 'd', { tsig: [255, 120] });
    w.certify('e', 'e');
    const net = await w.compute({ roots: ['root'] });
    assert.deepEqual(letters(net, w, ['a', 'b', 'c', 'd', 'e']), { a: 'f', b: 'f', c: 'f', d: 'q', e: 'f' });
    const t = text(net, w, 'd');
    assert.match(t, /scope "example\\\\" of the introducer does not match/);
    // A self-certification is not listed as evidence.
    assert.equal(net.explain(w.fpr('e'), w.uid('e')).certifications.length, 1);
  });

  it('empty keyrings and missing roots', async () => {
    const net = await TrustNetwork.compute([], { roots: ['AB'.repeat(20)], now: NOW });
    assert.deepEqual(net.bindings(), []);
    assert.deepEqual(net.missingRoots, ['AB'.repeat(20)]);
  });
});

describe('lazy verification', () => {
  /** A hook that marks what it is asked for as good and records the issuers asked for, per call. */
  function recordingHook(w: Web) {
    const asked: string[][] = [];
    const hook = async (certs: Array<{ issuer?: string; outcome: string }>) => {
      asked.push([...new Set(certs.map((c) => c.issuer!))].map((f) => w.name(f)).sort());
      for (const c of certs) c.outcome = 'good';
    };
    return { asked, hook };
  }
  const uncheckedIssuers = (w: Web, name: string) =>
    w
      .get(name)
      .userIds[0].certifications.filter((c) => c.outcome === 'unchecked')
      .map((c) => w.name(c.issuer!))
      .sort();

  it('verifies only the certifications of introducers, level by level', async () => {
    const w = new Web();
    for (const n of ['root', 'bob', 'carol', 'mallory', 'x']) w.key(n);
    w.certify('root', 'bob', { outcome: 'unchecked' });
    w.certify('bob', 'carol', { outcome: 'unchecked' });
    w.certify('mallory', 'x', { outcome: 'unchecked' });
    w.certify('carol', 'x', { outcome: 'unchecked' });
    const { asked, hook } = recordingHook(w);
    const net = await TrustNetwork.compute(w.keys, { now: NOW, roots: [w.fpr('root')], ownertrust: Web.ownertrust(w, { bob: FULL }) }, hook);
    assert.deepEqual(asked, [['root'], ['bob'], ['carol']]);
    assert.equal(net.validity(w.fpr('carol'), w.uid('carol')), 'f');
    assert.equal(net.validity(w.fpr('x'), w.uid('x')), 'q');
    assert.equal(w.get('x').userIds[0].certifications[0].outcome, 'unchecked', 'mallory is never verified');
    assert.match(text(net, w, 'x'), /issuer is not an introducer: its validity is - \(not valid\)/);
  });

  /** root certifies f1, f2 (full), m1..m3 (marginal), n1, n2 (no ownertrust); each target is certified by some of them. */
  function ladder(): Web {
    const w = new Web();
    w.key('root');
    for (const n of ['f1', 'f2', 'm1', 'm2', 'm3', 'n1', 'n2']) {
      w.key(n);
      w.certify('root', n);
    }
    for (const n of ['byfull', 'bymarginal', 'bynone']) w.key(n);
    for (const n of ['n1', 'm1', 'f1', 'f2']) w.certify(n, 'byfull', { outcome: 'unchecked' });
    for (const n of ['n1', 'm1', 'm2', 'm3']) w.certify(n, 'bymarginal', { outcome: 'unchecked' });
    for (const n of ['n1', 'n2']) w.certify(n, 'bynone', { outcome: 'unchecked' });
    return w;
  }
  const ladderTrust = { f1: FULL, f2: FULL, m1: MARGINAL, m2: MARGINAL, m3: MARGINAL };

  it("detail 'validity' verifies the most trusted introducers first and stops once the letter is settled", async () => {
    const lazy = ladder();
    const { hook } = recordingHook(lazy);
    const net = await TrustNetwork.compute(lazy.keys, { now: NOW, roots: [lazy.fpr('root')], ownertrust: Web.ownertrust(lazy, ladderTrust), detail: 'validity' }, hook);
    // One full introducer settles byfull; three marginals bymarginal; one signature makes bynone q.
    assert.deepEqual(uncheckedIssuers(lazy, 'byfull'), ['f2', 'm1', 'n1']);
    assert.deepEqual(uncheckedIssuers(lazy, 'bymarginal'), ['n1']);
    assert.equal(uncheckedIssuers(lazy, 'bynone').length, 1);
    const full = ladder();
    const all = await TrustNetwork.compute(full.keys, { now: NOW, roots: [full.fpr('root')], ownertrust: Web.ownertrust(full, ladderTrust) }, recordingHook(full).hook);
    assert.deepEqual(
      net.bindings().map((b) => b.validity),
      all.bindings().map((b) => b.validity),
    );
    assert.deepEqual(letters(net, lazy, ['byfull', 'bymarginal', 'bynone']), { byfull: 'f', bymarginal: 'f', bynone: 'q' });
  });

  it("detail 'validity' goes on to the next introducer when a signature does not verify", async () => {
    const w = ladder();
    const asked: string[] = [];
    const hook = async (certs: Array<{ issuer?: string; outcome: string }>) => {
      for (const c of certs) {
        asked.push(w.name(c.issuer!));
        c.outcome = w.name(c.issuer!) === 'f1' ? 'bad' : 'good';
      }
    };
    const net = await TrustNetwork.compute(w.keys, { now: NOW, roots: [w.fpr('root')], ownertrust: Web.ownertrust(w, ladderTrust), detail: 'validity' }, hook);
    assert.equal(net.validity(w.fpr('byfull'), w.uid('byfull')), 'f', 'f2 makes it full after f1 fails');
    assert.deepEqual(uncheckedIssuers(w, 'byfull'), ['m1', 'n1']);
  });

  it("detail 'validity' asks for each certification once, even when the hook leaves it unchecked", async () => {
    const w = ladder();
    let calls = 0;
    const net = await TrustNetwork.compute(w.keys, { now: NOW, roots: [w.fpr('root')], ownertrust: Web.ownertrust(w, ladderTrust), detail: 'validity' }, async () => {
      calls++;
    });
    assert.ok(calls <= 4, `asked ${calls} times`);
    assert.equal(net.validity(w.fpr('byfull'), w.uid('byfull')), '-', 'nothing verified, nothing counts');
  });

  it("detail 'validity' verifies every introducer's certification on a key that carries a trust signature", async () => {
    const w = new Web();
    for (const n of ['root', 'a', 'b', 't']) w.key(n);
    w.certify('root', 'a');
    w.certify('root', 'b');
    w.certify('a', 't', { outcome: 'unchecked' });
    w.certify('b', 't', { outcome: 'unchecked', tsig: [1, 120] });
    const { hook } = recordingHook(w);
    await TrustNetwork.compute(w.keys, { now: NOW, roots: [w.fpr('root')], ownertrust: Web.ownertrust(w, { a: FULL, b: FULL }), detail: 'validity' }, hook);
    assert.deepEqual(uncheckedIssuers(w, 't'), []);
  });
});

describe('explanations', () => {
  it('JSON carries the data and the messages', async () => {
    const w = new Web();
    w.key('root');
    w.key('bob');
    w.certify('root', 'bob', { expires: NOW + DAY });
    const net = await w.compute({ roots: ['root'] });
    const json = explanationJson(net.explain(w.fpr('bob'), w.uid('bob'))) as Record<string, unknown>;
    assert.equal(json.validity, 'f');
    assert.equal(json.valid, true);
    assert.equal(json.referenceTime, '2023-01-15T00:00:00.000Z');
    const paths = json.paths as Array<{ edges: Array<{ created: string; expires: string }> }>;
    assert.equal(paths[0].edges[0].created, '2023-01-01T00:00:00.000Z');
    assert.equal(paths[0].edges[0].expires, '2023-01-16T00:00:00.000Z');
    assert.doesNotThrow(() => JSON.stringify(json));
  });
});
