/**
 * Certificate evaluation against GnuPG 2.2 as the oracle: key, user ID and subkey
 * states, and third-party certification verdicts, at several reference times.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { evaluateKeyring } from '../../src/cert/evaluate.js';
import { DEFAULT_POLICY } from '../../src/cert/policy.js';
import type { EvaluatedCert, Status } from '../../src/cert/types.js';
import { Keyring } from '../../src/keyring/keyring.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { Verifier } from '../../src/verify/verifier.js';
import { GpgHome } from '../helpers/gpg.js';

const DIR = new URL('../fixtures/certs/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, DIR));
const index: Record<string, { fpr: string; uids: string[] }> = JSON.parse(fixture('index.json').toString());
const allBytes = fixture('all.pgp');

const T = {
  march2022: 1646092800,
  july2022: 1656633600,
  reference: 1673740800,
  y2025: 1735689600,
};

/** gpg's verdicts by key, from --check-sigs --with-colons. */
interface GpgKey {
  pub: string;
  uids: Map<string, string>;
  subs: Map<string, string>;
  /** "uid text|issuer keyid|created|class" → sig verdict letter. */
  sigs: Map<string, string>;
}

function gpgView(now: number): Map<string, GpgKey> {
  const gpg = new GpgHome(now);
  try {
    gpg.ok(['--import-options', 'import-local-sigs', '--import'], allBytes);
    gpg.ok(['--import-ownertrust'], fixture('ownertrust.txt'));
    gpg.run(['--check-trustdb']);
    const out = new Map<string, GpgKey>();
    let key: GpgKey | undefined;
    let uid = '';
    let pendingSub: { letter: string } | undefined;
    let inSub = false;
    for (const f of gpg.colons(['--check-sigs'])) {
      if (f[0] === 'pub') {
        key = { pub: f[1], uids: new Map(), subs: new Map(), sigs: new Map() };
        inSub = false;
      } else if (f[0] === 'fpr' && key) {
        if (pendingSub) {
          key.subs.set(f[9], pendingSub.letter);
          pendingSub = undefined;
        } else if (!out.has(f[9]) && key.uids.size === 0) out.set(f[9], key);
      } else if (f[0] === 'uid' && key) {
        uid = f[9];
        key.uids.set(uid, f[1]);
        inSub = false;
      } else if (f[0] === 'sub' && key) {
        pendingSub = { letter: f[1] };
        inSub = true;
      } else if ((f[0] === 'sig' || f[0] === 'rev') && key && !inSub) {
        key.sigs.set(`${uid}|${f[4]}|${f[5]}|${f[10].slice(0, 2)}`, f[1]);
      }
    }
    return out;
  } finally {
    gpg.cleanup();
  }
}

function keyLetter(s: Status): string {
  return s === 'revoked' ? 'r' : s === 'expired' ? 'e' : s === 'invalid' ? 'i' : 'ok';
}

/** gpg letters other than r/e/i mean "usable, trust aside". */
function gpgStatus(letter: string): string {
  return ['r', 'e', 'i'].includes(letter) ? letter : 'ok';
}

const ring = new Keyring(readCerts(allBytes).certs);

for (const [label, now] of Object.entries(T)) {
  describe(`evaluation equals gpg at ${label} (${new Date(now * 1000).toISOString().slice(0, 10)})`, () => {
    let ours: Map<string, EvaluatedCert>;
    let theirs: Map<string, GpgKey>;
    before(async () => {
      ours = await evaluateKeyring(ring, { now, verifier: new Verifier() });
      theirs = gpgView(now);
    });

    test('every certificate is known to both', () => {
      assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
    });

    test('primary key states', () => {
      for (const [fpr, ev] of ours) assert.equal(keyLetter(ev.primary.status), gpgStatus(theirs.get(fpr)!.pub), `key ${fpr}`);
    });

    test('user ID states', () => {
      for (const [fpr, ev] of ours) {
        for (const u of ev.userIds) {
          const letter = theirs.get(fpr)!.uids.get(u.text.replaceAll(':', '\\x3a'));
          assert.ok(letter !== undefined, `gpg lists ${u.text}`);
          // A user ID of a revoked or expired key: gpg shows the key's state; compare the uid's own state otherwise.
          if (ev.primary.status !== 'valid') continue;
          assert.equal(keyLetter(u.status), gpgStatus(letter), `${fpr} uid ${u.text}`);
        }
      }
    });

    test('subkey states', () => {
      for (const [fpr, ev] of ours) {
        for (const s of ev.subkeys) assert.equal(keyLetter(s.status), gpgStatus(theirs.get(fpr)!.subs.get(s.key.fpr)!), `subkey ${s.key.fpr}`);
      }
    });

    test('third-party certification verdicts', () => {
      let compared = 0;
      for (const [fpr, ev] of ours) {
        for (const u of ev.userIds) {
          for (const c of u.certifications) {
            if (c.created > now) continue;
            const letter = theirs.get(fpr)!.sigs.get(`${u.text}|${c.issuerKeyId}|${c.created}|${c.type.toString(16)}`);
            assert.ok(letter, `gpg lists certification by ${c.issuerKeyId} on ${u.text}`);
            const expected = letter === '!' ? 'good' : letter === '%' ? 'rejected' : letter === '?' ? 'no-key' : 'bad';
            assert.equal(c.outcome, expected, `certification by ${c.issuerKeyId} on ${u.text} (${c.policyReason ?? ''})`);
            compared++;
          }
        }
      }
      assert.ok(compared >= 15, `compared ${compared} certifications`);
    });
  });
}

describe('evaluation details', () => {
  let ev: Map<string, EvaluatedCert>;
  before(async () => {
    ev = await evaluateKeyring(ring, { now: T.reference, verifier: new Verifier() });
  });
  const get = (name: string) => ev.get(index[name].fpr)!;

  test('key expiry comes from the newest self-signature', () => {
    assert.equal(get('expired').primary.expires, 1654041600);
    assert.equal(get('renewed').primary.status, 'valid');
    assert.ok((get('renewed').primary.expires ?? 0) > T.reference);
  });

  test('hard and soft key revocations are told apart', () => {
    assert.equal(get('revoked-hard').primary.revocation?.hard, true);
    assert.equal(get('revoked-soft').primary.revocation?.hard, false);
    assert.equal(get('revoked-soft').primary.revocation?.time, 1661990400);
  });

  test('a designated revoker is recorded, and its revocation counts', () => {
    assert.deepEqual(get('designated-revoker').primary.revokers.map((r) => r.fingerprint), [index.alice.fpr]);
    assert.equal(get('designated-revoker').primary.status, 'valid');
    assert.equal(get('revoked-by-designated').primary.status, 'revoked');
    assert.equal(get('revoked-by-designated').primary.revocation?.by, index.alice.fpr);
  });

  test('trust signatures expose level, amount and the full regular expression', () => {
    const tsig = get('carol').userIds[0].certifications.find((c) => c.issuer === index.alice.fpr)!;
    assert.deepEqual(tsig.trust, { level: 1, amount: 120 });
    assert.deepEqual(tsig.regexes, ['<[^>]+[@.]example\\.org>$']);
    assert.equal(tsig.outcome, 'good');
  });

  test('local, persona and expiring certifications carry their attributes', () => {
    assert.equal(get('local').userIds[0].certifications[0].exportable, false);
    assert.equal(get('persona').userIds[0].certifications[0].type, 0x11);
    const expiring = get('cert-expired').userIds[0].certifications[0];
    assert.ok(expiring.expires !== undefined && expiring.expires < T.reference);
  });

  test('SHA-1 certifications: before the cut-off good, after it rejected with a reason; configurable', async () => {
    const certs = get('sha1').userIds[0].certifications;
    const grace = certs.find((c) => c.issuer === index.grace.fpr)!;
    const bob = certs.find((c) => c.issuer === index.bob.fpr)!;
    assert.equal(grace.outcome, 'good');
    assert.equal(bob.outcome, 'rejected');
    assert.match(bob.policyReason!, /SHA-1 certification made after 2019-01-19/);
    const lax = await evaluateKeyring(ring, { now: T.reference, verifier: new Verifier(), policy: { ...DEFAULT_POLICY, sha1CertificationCutoff: null } });
    assert.equal(lax.get(index.sha1.fpr)!.userIds[0].certifications.find((c) => c.issuer === index.bob.fpr)!.outcome, 'good');
  });

  test('a certification revocation is exposed as type 0x30', () => {
    const types = get('revsig').userIds[0].certifications.map((c) => c.type).sort();
    assert.deepEqual(types, [0x10, 0x30]);
  });

  test('a signing subkey needs its back-signature; authentication subkeys do not', () => {
    const carolSub = get('carol').subkeys[0];
    assert.equal(carolSub.backsig, true);
    assert.equal(carolSub.flags & 0x02, 0x02);
    const auth = get('alice').subkeys.find((s) => s.flags & 0x20)!;
    assert.equal(auth.backsig, undefined);
    assert.equal(auth.status, 'valid');
  });

  test('deferred certifications stay unchecked until their issuer is checked', async () => {
    const { checkCertifications } = await import('../../src/cert/evaluate.js');
    const lazy = await evaluateKeyring(ring, { now: T.reference, verifier: new Verifier(), certifications: false });
    const bobCert = () => lazy.get(index.bob.fpr)!.userIds[0].certifications[0];
    assert.equal(bobCert().outcome, 'unchecked');
    await checkCertifications(lazy.values(), (fpr) => fpr === index.alice.fpr, new Verifier());
    assert.equal(bobCert().outcome, 'good');
    assert.equal(lazy.get(index.revsig.fpr)!.userIds[0].certifications[0].outcome, 'unchecked');
  });

  test('thirdParty: false lists no certification and changes no binding', async () => {
    const full = await evaluateKeyring(ring, { now: T.reference, verifier: new Verifier() });
    const bare = await evaluateKeyring(ring, { now: T.reference, verifier: new Verifier(), thirdParty: false });
    assert.ok([...full.values()].some((e) => e.userIds.some((u) => u.certifications.length > 0)));
    for (const [fpr, e] of full) {
      const b = bare.get(fpr)!;
      assert.equal(b.primary.status, e.primary.status, fpr);
      assert.deepEqual(
        b.userIds.map((u) => [u.text, u.status, u.certifications.length]),
        e.userIds.map((u) => [u.text, u.status, 0]),
        fpr,
      );
      assert.deepEqual(
        b.subkeys.map((k) => k.status),
        e.subkeys.map((k) => k.status),
      );
    }
  });
});

describe('a certificate whose signature was transplanted', () => {
  test('a valid certification copied onto another user ID is bad', async () => {
    const certs = readCerts(allBytes).certs;
    const uma = certs.find((c) => c.primary.fpr === index['uid-revoked'].fpr)!;
    const bob = certs.find((c) => c.primary.fpr === index.bob.fpr)!;
    const aliceOnBob = bob.users[0].signatures.find((s) => s.sig?.issuerFingerprints.includes(index.alice.fpr))!;
    const forged = { ...uma, users: [{ ...uma.users[0], signatures: [...uma.users[0].signatures.filter((s) => !s.sig?.issuerFingerprints.includes(index.alice.fpr)), aliceOnBob] }] };
    const ring2 = new Keyring(certs.filter((c) => c !== uma));
    ring2.add(forged);
    const ev = await evaluateKeyring(ring2, { now: T.reference, verifier: new Verifier() });
    const c = ev.get(uma.primary.fpr)!.userIds[0].certifications.find((x) => x.issuer === index.alice.fpr);
    assert.equal(c?.outcome, 'bad');
  });
});

after(() => undefined);
