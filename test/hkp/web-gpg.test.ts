/**
 * The key page against GnuPG: over a store of the gpg-made fixtures (test/fixtures/certs, with
 * gpg's `--check-sigs` at the reference time) and the v6 fixtures, each third-party
 * certification the page shows verified is one gpg checks good (`sig:!`), and gpg's
 * invalid-digest verdict (`%`, SHA-1 after its cut-off) is shown as rejected; key, user ID and
 * subkey states are gpg's; every key page renders.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { buildKeyView, type KeyView } from '../../src/hkp/web/key-view.js';
import { keyPage } from '../../src/hkp/web/pages.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { REFERENCE_TIME } from '../helpers/gpg.js';
import { openWebStore, type WebStore } from './web-fixtures.js';

const CERTS = new URL('../fixtures/certs/', import.meta.url).pathname;
const STORE_FIXTURES = new URL('../fixtures/store/', import.meta.url).pathname;

interface GpgSig {
  target: string;
  userId: string;
  issuerFpr: string;
  created: number;
  cls: number;
  validity: string;
}

interface GpgKey {
  fpr: string;
  validity: string;
  uids: Map<string, string>;
  subkeys: Map<string, string>;
}

/** gpg's --check-sigs colon listing: keys with their validity, and third-party signatures on user IDs. */
function readCheckSigs(): { keys: Map<string, GpgKey>; sigs: GpgSig[] } {
  const keys = new Map<string, GpgKey>();
  const sigs: GpgSig[] = [];
  let key: GpgKey | undefined;
  let pendingValidity = '';
  let pendingSub: string | undefined;
  let uid: string | undefined;
  let expectFpr: 'pub' | 'sub' | undefined;
  for (const line of readFileSync(`${CERTS}gpg-check-sigs.txt`, 'utf8').split('\n')) {
    const f = line.split(':');
    switch (f[0]) {
      case 'pub':
        pendingValidity = f[1];
        expectFpr = 'pub';
        uid = undefined;
        break;
      case 'sub':
        pendingSub = f[1];
        expectFpr = 'sub';
        uid = undefined;
        break;
      case 'fpr':
        if (expectFpr === 'pub') {
          key = { fpr: f[9], validity: pendingValidity, uids: new Map(), subkeys: new Map() };
          keys.set(key.fpr, key);
        } else if (expectFpr === 'sub' && key && pendingSub !== undefined) key.subkeys.set(f[9], pendingSub);
        expectFpr = undefined;
        break;
      case 'uid':
        uid = f[9].replace(/\\x([0-9a-f]{2})/g, (_, h) => String.fromCharCode(Number.parseInt(h, 16)));
        key?.uids.set(uid, f[1]);
        break;
      case 'sig':
      case 'rev':
        if (key && uid !== undefined && f[12] !== key.fpr) {
          sigs.push({ target: key.fpr, userId: uid, issuerFpr: f[12], created: Number(f[5]), cls: Number.parseInt(f[10].slice(0, 2), 16), validity: f[1] });
        }
        break;
    }
  }
  return { keys, sigs };
}

const GPG_STATUS: Readonly<Record<string, string>> = { r: 'revoked', e: 'expired' };

let ws: WebStore;
const views = new Map<string, KeyView>();
let gpg: ReturnType<typeof readCheckSigs>;

before(async () => {
  const certs = [
    ...readCerts(readFileSync(`${CERTS}all.pgp`)).certs,
    ...readCerts(readFileSync(`${STORE_FIXTURES}v6.pgp`)).certs,
    ...readCerts(readFileSync(`${STORE_FIXTURES}v6-certified.pgp`)).certs,
  ];
  ws = await openWebStore(certs);
  for (const c of certs) {
    const stored = (await ws.store.certs.get(c.primary.fpr))!;
    views.set(c.primary.fpr, await buildKeyView(ws.store, stored, REFERENCE_TIME));
  }
  gpg = readCheckSigs();
});

after(async () => {
  await ws?.close();
});

describe('key pages against gpg --check-sigs', () => {
  test('every third-party certification: verified exactly when gpg checks it good, rejected when gpg finds its digest invalid', () => {
    let compared = 0;
    for (const s of gpg.sigs) {
      const view = views.get(s.target)!;
      const uid = view.userIds.find((u) => u.text === s.userId);
      assert.ok(uid, `${s.userId} on ${s.target}`);
      const ours = uid.certifications.filter((c) => c.issuerFpr === s.issuerFpr && c.created === s.created && c.type === s.cls);
      assert.equal(ours.length, 1, `${s.issuerFpr} on ${s.userId} at ${s.created}`);
      const c = ours[0];
      assert.ok(c.issuerOnServer, `${s.issuerFpr} is on the server`);
      if (s.validity === '!') assert.equal(c.outcome, 'good', `${s.issuerFpr} on ${s.userId}`);
      else if (s.validity === '%') assert.equal(c.outcome, 'rejected', `${s.issuerFpr} on ${s.userId}`);
      else assert.notEqual(c.outcome, 'good', `${s.issuerFpr} on ${s.userId}: gpg says ${s.validity}`);
      compared++;
    }
    assert.ok(compared >= 15, `${compared} certifications compared`);
  });

  test('a certification the issuer revoked later is withdrawn; an expired one is expired; a local one is marked; designated revokers', () => {
    const byName = JSON.parse(readFileSync(`${CERTS}index.json`, 'utf8')) as Record<string, { fpr: string }>;
    const one = (name: string) => views.get(byName[name].fpr)!.userIds[0].certifications;
    const revsig = one('revsig');
    assert.ok(revsig.some((c) => c.type === 0x10 && c.revokedByIssuer));
    assert.ok(revsig.some((c) => c.type === 0x30 && c.outcome === 'good'));
    const expired = one('cert-expired').find((c) => c.issuerFpr === byName.alice.fpr)!;
    assert.ok(expired.expires !== undefined && expired.expires < REFERENCE_TIME);
    assert.match(keyPage(views.get(byName['cert-expired'].fpr)!), /<span class="badge warn">expired<\/span>/);
    assert.equal(one('local').find((c) => c.issuerFpr === byName.alice.fpr)!.exportable, false);
    const kate = views.get(byName['designated-revoker'].fpr)!;
    assert.deepEqual(kate.revokers, [{ fpr: byName.alice.fpr, onServer: true, sensitive: false }]);
    assert.match(keyPage(kate), new RegExp(`<dt>Designated revokers</dt><dd><a href="/key/${byName.alice.fpr}">`));
    const larry = views.get(byName['revoked-by-designated'].fpr)!;
    assert.equal(larry.revocation?.by, byName.alice.fpr);
    assert.match(keyPage(larry), new RegExp(`by the designated revoker</span> <a href="/key/${byName.alice.fpr}">`));
    const alice = views.get(byName.alice.fpr)!;
    assert.deepEqual(alice.certified.find((c) => c.fpr === byName.carol.fpr), { fpr: byName.carol.fpr, userId: 'Carol <carol@example.org>', trust: true });
    assert.equal(alice.certified.find((c) => c.fpr === byName.bob.fpr)?.trust, false);
    assert.ok(alice.certified.length >= 10);
    const carol = one('carol').find((c) => c.issuerFpr === byName.alice.fpr)!;
    assert.deepEqual(carol.trust, { level: 1, amount: 120 });
    assert.deepEqual(carol.regexes, ['<[^>]+[@.]example\\.org>$']);
  });

  test("key, user ID and subkey states are gpg's", () => {
    for (const [fpr, k] of gpg.keys) {
      const v = views.get(fpr)!;
      assert.equal(v.status, GPG_STATUS[k.validity] ?? 'valid', `key ${fpr}`);
      for (const [text, validity] of k.uids) {
        const u = v.userIds.find((x) => x.text === text)!;
        // gpg gives every user ID of a revoked or expired key that key's letter; alone, `r` is a user ID revocation.
        if (v.status !== 'valid') continue;
        assert.equal(u.status, validity === 'r' ? 'revoked' : 'valid', text);
      }
      for (const [subFpr, validity] of k.subkeys) {
        const s = v.subkeys.find((x) => x.fpr === subFpr)!;
        assert.equal(s.status, GPG_STATUS[validity] ?? (v.status === 'valid' ? 'valid' : v.status), `subkey ${subFpr}`);
      }
    }
  });

  test('v6: a v6 key page, and a v6 certification verified on a v4 key', () => {
    const v6 = [...views.values()].find((v) => v.version === 6)!;
    assert.equal(v6.fpr.length, 64);
    assert.match(keyPage(v6), new RegExp(`<code class="fpr">${v6.fpr.replace(/(.{4})(?=.)/g, '$1 ')}</code>`));
    const victor = [...views.values()].find((v) => v.userIds.some((u) => u.text.startsWith('Victor Four')))!;
    const c = victor.userIds[0].certifications.find((x) => x.issuerFpr === v6.fpr)!;
    assert.equal(c.outcome, 'good');
    assert.match(keyPage(victor), new RegExp(`href="/key/${v6.fpr}"`));
  });

  test('every key page renders', () => {
    for (const v of views.values()) {
      const page = keyPage(v);
      assert.match(page, /^<!doctype html>/);
      assert.ok(page.includes(v.fpr));
    }
  });
});
