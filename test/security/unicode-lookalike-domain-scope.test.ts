/**
 * Finding 7 of the security review: a certifier limited to one domain (a trust signature
 * with gpg's scope `<[^>]+[@.]kiosk\.example\.org>$`) certifies user IDs whose address
 * only looks like that domain. JavaScript's case mapping folds U+212A KELVIN SIGN to `k`,
 * so `<kev@\u212Aiosk.example.org>` passed the scope: a binding outside the certifier's
 * domain became valid. gpg 2.2 rejects it.
 *
 * Scopes now fold case as gpg does at most: the matcher's `gnupg` fold is gpg's own
 * (jimregexp: both sides uppercased, ASCII by toupper, other letters by Unicode's simple
 * uppercase mapping), and what decides validity also passes the `ascii` fold, A–Z only.
 * gpg's fold still lets U+017F LONG S stand for `s` and U+0131 DOTLESS I for `i`; we
 * refuse those too (stricter than gpg, with the stricter-than-gnupg reason). ASCII case
 * still folds (`KIOSK.EXAMPLE.ORG` matches), as in gpg. Real gpg 2.2 is the oracle, for
 * the trust engine (monkeysphere-wot) and for the authentication store.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { computeBindings } from '../../src/auth/compute.js';
import { AuthStore } from '../../src/auth/store.js';
import { Keyring } from '../../src/keyring/keyring.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { SigType } from '../../src/openpgp/signature.js';
import { Verifier } from '../../src/verify/verifier.js';
import { computeKeyringTrust } from '../../src/wot/build.js';
import { AuthServer, ensureBuilt } from '../auth/harness.js';
import { CREATED, NOW, Person } from '../auth/pki.js';
import { GpgHome } from '../helpers/gpg.js';
import { gpgDomainRegex } from '../helpers/webgen.js';
import { storePath } from './duplicates.js';

const DOMAIN = 'kiosk.example.org';

interface Case {
  what: string;
  uid: string;
  /** gpg 2.2.40's letter (checked, so the table documents gpg). */
  gpg: string;
  /** Ours. */
  ours: string;
}

const CASES: Case[] = [
  { what: 'the domain itself', uid: 'Ann <ann@kiosk.example.org>', gpg: 'f', ours: 'f' },
  { what: 'ASCII upper case', uid: 'Ben <ben@KIOSK.EXAMPLE.ORG>', gpg: 'f', ours: 'f' },
  { what: 'a subdomain, mixed case', uid: 'Cy <cy@Mail.Kiosk.Example.Org>', gpg: 'f', ours: 'f' },
  { what: 'U+212A KELVIN SIGN for k', uid: 'Kev <kev@\u212Aiosk.example.org>', gpg: '-', ours: '-' },
  { what: 'U+0130 CAPITAL I WITH DOT ABOVE for i', uid: 'Ida <ida@k\u0130osk.example.org>', gpg: '-', ours: '-' },
  { what: 'fullwidth small s (U+FF53)', uid: 'Sue <sue@kio\uFF53k.example.org>', gpg: '-', ours: '-' },
  { what: 'fullwidth capital K (U+FF2B)', uid: 'Kim <kim@\uFF2Biosk.example.org>', gpg: '-', ours: '-' },
  { what: 'U+017F LONG S for s (gpg folds it: we are stricter)', uid: 'Lou <lou@kio\u017Fk.example.org>', gpg: 'f', ours: '-' },
  { what: 'U+0131 DOTLESS I for i (gpg folds it: we are stricter)', uid: 'Dot <dot@k\u0131osk.example.org>', gpg: 'f', ours: '-' },
  { what: 'another domain ending in the name', uid: 'Eve <eve@kiosk.example.org.evil.net>', gpg: '-', ours: '-' },
];

const RANK: Record<string, number> = { u: 6, f: 5, m: 4, n: 3, q: 2, e: 1, '-': 0, r: 0, i: 0 };

/** gpg's letter for each user ID of `bytes` (imported with local signatures), `ultimate` at ultimate trust. */
function gpgLetters(bytes: Buffer, ultimate: string): Map<string, string> {
  const gpg = new GpgHome(NOW);
  try {
    gpg.ok(['--import-options', 'import-local-sigs', '--import'], bytes);
    gpg.ok(['--import-ownertrust'], `${ultimate}:6:\n`);
    gpg.ok(['--check-trustdb']);
    const out = new Map<string, string>();
    for (const f of gpg.colons(['--list-keys'])) {
      // --with-colons escapes ':' and control characters as \xHH; these user IDs have none.
      if (f[0] === 'uid') out.set(f[9], f[1]);
    }
    return out;
  } finally {
    gpg.cleanup();
  }
}

/** One person per case, each certified by `certifier`. */
function targets(certifier: Person): Person[] {
  return CASES.map((c) => new Person([c.uid]).certifiedBy(certifier));
}

describe('the trust engine: a root scopes a certifier to kiosk.example.org with a trust signature', () => {
  const root = new Person(['Root <root@example.net>']);
  const certifier = new Person(['Certifier <certifier@example.net>']);
  const people = targets(certifier);
  after(() => {
    for (const p of [root, certifier, ...people]) p.cleanup();
  });
  // gpg tsign's form: an exportable trust signature, level 1, full amount, the domain scope.
  const tsig = signV4(
    { kind: 'user', primary: certifier.primary, user: certifier.cert.users[0].packet },
    {
      type: SigType.GenericCert,
      signer: root.primary,
      privateKey: root.privateKey,
      hashed: [sp.created(CREATED + 3600), sp.issuerFingerprint(root.primary), sp.trust(1, 120), sp.regex(gpgDomainRegex(DOMAIN))],
    },
  );
  const c = certifier.cert;
  const certifierBytes = Buffer.concat([c.primary.packet.raw, c.users[0].packet.raw, ...c.users[0].signatures.map((e) => e.packet.raw), tsig.packet.raw, ...c.subkeys.flatMap((s) => [s.key.packet.raw, ...s.signatures.map((e) => e.packet.raw)])]);
  const file = Buffer.concat([root.bytes, certifierBytes, ...people.map((p) => p.bytes)]);
  const theirs = gpgLetters(file, root.fpr);

  for (const [i, c] of CASES.entries()) {
    test(`${c.what}: gpg ${c.gpg}, ours ${c.ours}`, async () => {
      assert.equal(theirs.get(c.uid), c.gpg, 'gpg 2.2.40 is not what this case says');
      const ring = new Keyring(readCerts(file).certs);
      const { network } = await computeKeyringTrust(ring, { now: NOW, roots: [root.fpr] }, { verifier: new Verifier() });
      const ex = network.explain(people[i].fpr, c.uid);
      assert.equal(ex.gnupgValidity, c.gpg, "GnuPG's rules, as we run them, differ from gpg");
      assert.equal(ex.validity, c.ours);
      assert.ok(RANK[ex.validity] <= RANK[c.gpg], 'valid beyond what gpg accepts');
      if (c.ours !== c.gpg) assert.ok(ex.reasons.some((r) => r.code === 'stricter-than-gnupg'));
      const { network: gnupgOnly } = await computeKeyringTrust(new Keyring(readCerts(file).certs), { now: NOW, roots: [root.fpr], model: 'gnupg' }, { verifier: new Verifier() });
      assert.equal(gnupgOnly.validity(people[i].fpr, c.uid), c.gpg, '--model gnupg differs from gpg');
    });
  }
});

describe('monkeysphere-authentication: add-id-certifier --domain kiosk.example.org', () => {
  before(() => ensureBuilt());

  test('only user IDs in the domain (ASCII case folded) are valid and get access; each verdict at most gpg 2.2', async (t) => {
    const server = new AuthServer();
    const certifier = new Person(['Certifier <certifier@example.net>']);
    const people = targets(certifier);
    t.after(() => {
      server.cleanup();
      for (const p of [certifier, ...people]) p.cleanup();
    });
    await server.ok(['setup']);
    await server.addCertifier(certifier, ['--domain', DOMAIN]);
    for (const p of people) await server.importCert(p);

    const store = await AuthStore.open(storePath(server));
    let rows: Awaited<ReturnType<typeof computeBindings>>['rows'];
    let core: string;
    const bytes: Buffer[] = [];
    try {
      core = (await store.state()).coreFpr!;
      rows = (await computeBindings(store, { now: NOW })).rows;
      for await (const s of store.certs.all()) bytes.push(s.bytes);
    } finally {
      await store.close();
    }
    const theirs = gpgLetters(Buffer.concat(bytes), core);
    for (const [i, c] of CASES.entries()) {
      const mine = rows.find((r) => r.fpr === people[i].fpr && r.uid === c.uid)?.validity ?? '-';
      assert.equal(theirs.get(c.uid), c.gpg, `${c.what}: gpg 2.2.40 is not what this case says`);
      assert.equal(mine, c.ours, `${c.what}: ours`);
    }

    server.writeUserIds(`${CASES.map((c) => c.uid).join('\n')}\n`);
    await server.ok(['update-users', 'root']);
    const written = existsSync(server.authorizedKeysFile) ? readFileSync(server.authorizedKeysFile, 'utf8') : '';
    for (const [i, c] of CASES.entries()) assert.equal(written.includes(people[i].sshKey), c.ours === 'f', `${c.what}: access`);
  });
});
