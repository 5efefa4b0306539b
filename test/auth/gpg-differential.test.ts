/**
 * The original's decision, by the original's engine: after setting up certifiers with
 * our commands, the store (certificates with the core's local trust signatures) is
 * imported into GnuPG 2.2.40 as the original's sphere keyring was (import-local-sigs,
 * the core at ultimate ownertrust, --check-trustdb), and every binding's validity letter
 * is compared with ours: the same letter for every binding. The scenarios cover full, marginal (1 and 3), domain-limited
 * (matching and not), depth-2 delegation, revoked keys and user IDs, expired keys, and
 * an uncertified look-alike.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuthStore } from '../../src/auth/store.js';
import { GpgHome } from '../helpers/gpg.js';
import { AuthServer } from './harness.js';
import { CREATED, NOW, Person } from './pki.js';

const DAY = 86400;

test('every binding has the validity GnuPG 2.2 gives it in the original sphere setup', async (t) => {
  const server = new AuthServer();
  const gpg = new GpgHome(NOW);
  const people: Person[] = [];
  const person = (uids: string[], opts = {}) => {
    const p = new Person(uids, opts);
    people.push(p);
    return p;
  };
  t.after(() => {
    server.cleanup();
    gpg.cleanup();
    for (const p of people) p.cleanup();
  });

  const admin = person(['Admin <admin@example.net>']);
  const m1 = person(['Marginal One <m1@example.net>']);
  const m2 = person(['Marginal Two <m2@example.net>']);
  const m3 = person(['Marginal Three <m3@example.net>']);
  const orgOnly = person(['Org Admin <admin@example.org>']);
  const delegator = person(['Delegator <del@example.com>']);
  const sub = person(['Sub Certifier <sub@example.com>']);

  const bob = person(['Bob <bob@example.net>', 'Bob Org <bob@example.org>']).certifiedBy(admin).certifiedBy(orgOnly, 'Bob Org <bob@example.org>');
  const carol = person(['Carol <carol@example.net>']).certifiedBy(m1);
  const dave = person(['Dave <dave@example.net>']).certifiedBy(m1).certifiedBy(m2).certifiedBy(m3);
  const erin = person(['Erin <erin@example.net>']).certifiedBy(orgOnly);
  const frank = person(['Frank <frank@example.org>']).certifiedBy(orgOnly);
  const gina = person(['Gina <gina@example.com>']).certifiedBy(sub);
  const revoked = person(['Revoked <rev@example.net>']).certifiedBy(admin);
  revoked.revokeKey(NOW - DAY);
  const uidRevoked = person(['Uid Revoked <uidrev@example.net>', 'Uid Kept <uidkept@example.net>']).certifiedBy(admin).certifiedBy(admin, 'Uid Kept <uidkept@example.net>');
  uidRevoked.revokeUserId('Uid Revoked <uidrev@example.net>', NOW - DAY);
  const expired = person(['Expired <exp@example.net>'], { keyExpiresAfter: 300 * DAY }).certifiedBy(admin, 'Expired <exp@example.net>', CREATED + DAY);
  const lookalike = person(['Bob <bob@example.net>']);

  await server.ok(['setup']);
  await server.addCertifier(admin);
  for (const m of [m1, m2, m3]) await server.addCertifier(m, ['-t', 'marginal']);
  await server.addCertifier(orgOnly, ['--domain', 'example.org']);
  await server.addCertifier(delegator, ['--depth', '2']);
  // The delegator names a sub-certifier with a trust signature of its own (exportable, as gpg tsign makes).
  sub.cert = (await tsignedBy(delegator, sub)).cert;
  for (const p of [sub, bob, carol, dave, erin, frank, gina, revoked, uidRevoked, expired, lookalike]) await server.importCert(p);
  await server.ok(['update-users', 'root']);

  // Our verdicts, and the store as the original's sphere keyring would hold it.
  const store = await AuthStore.open(join(server.dataDir, 'authentication', 'store.sqlite'));
  const ours = new Map<string, string>();
  const bytes: Buffer[] = [];
  let coreFpr: string;
  try {
    coreFpr = (await store.state()).coreFpr!;
    for await (const s of store.certs.all()) {
      bytes.push(s.bytes);
      for (const u of s.cert.users) {
        if (u.kind !== 'userid') continue;
        const row = (await store.bindingsFor(u.text)).find((r) => r.fpr === s.fpr);
        ours.set(`${s.fpr} ${u.text}`, row?.validity ?? '-');
      }
    }
  } finally {
    await store.close();
  }
  gpg.ok(['--import-options', 'import-local-sigs', '--import'], Buffer.concat(bytes));
  gpg.ok(['--import-ownertrust'], `${coreFpr}:6:\n`);
  gpg.ok(['--check-trustdb']);
  const theirs = new Map<string, string>();
  let fpr = '';
  let pub = '';
  for (const f of gpg.colons(['--list-keys'])) {
    if (f[0] === 'pub') pub = f[1];
    if (f[0] === 'fpr' && pub) {
      fpr = f[9];
      pub = '';
    }
    if (f[0] === 'uid') theirs.set(`${fpr} ${f[9].replace(/\\x3a/g, ':')}`, f[1]);
  }

  // Same letter for every binding (so the same acceptance: only u and f grant access).
  const rows = [...theirs].map(([binding, letter]) => `${binding}: gpg ${letter}, ours ${ours.get(binding)}`);
  for (const [binding, letter] of theirs) assert.equal(ours.get(binding), letter, `validity differs for ${binding}\n${rows.join('\n')}`);
  assert.equal(theirs.size, ours.size, rows.join('\n'));
  // Spot checks that the scenarios mean what they say.
  const v = (p: Person, uid = p.userIds[0]) => theirs.get(`${p.fpr} ${uid}`);
  assert.equal(v(bob), 'f');
  assert.equal(v(bob, 'Bob Org <bob@example.org>'), 'f');
  assert.equal(v(carol), 'm');
  assert.equal(v(dave), 'f');
  assert.equal(v(erin), '-');
  assert.equal(v(frank), 'f');
  assert.equal(v(gina), 'f');
  assert.equal(v(revoked), 'r');
  assert.equal(v(uidRevoked), 'r');
  assert.equal(v(uidRevoked, 'Uid Kept <uidkept@example.net>'), 'f');
  assert.equal(v(expired), 'e');
  assert.notEqual(v(lookalike), 'f');
});

/** `delegator` makes an exportable trust signature (depth 1, full) on `target`'s first user ID. */
async function tsignedBy(delegator: Person, target: Person): Promise<Person> {
  const { signV4, sp } = await import('../../src/openpgp/build.js');
  const { SigType } = await import('../../src/openpgp/signature.js');
  const { readCerts } = await import('../../src/openpgp/cert.js');
  const user = target.cert.users[0];
  const sig = signV4(
    { kind: 'user', primary: target.cert.primary, user: user.packet },
    { type: SigType.GenericCert, signer: delegator.primary, privateKey: delegator.privateKey, hashed: [sp.created(CREATED + 2 * DAY), sp.trust(1, 120), sp.issuerFingerprint(delegator.primary)] },
  );
  const last = user.signatures[user.signatures.length - 1].packet;
  const raws: Buffer[] = [];
  for (const p of target.cert.packets) {
    raws.push(p.raw);
    if (p === last) raws.push(sig.packet.raw);
  }
  target.cert = readCerts(Buffer.concat(raws)).certs[0];
  return target;
}
