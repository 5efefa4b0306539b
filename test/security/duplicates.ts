/**
 * Finding 3's crafted certificates and verdicts: copies of a certificate that carry a
 * user ID or subkey twice, the revocations that must still count, our verdict through
 * the authentication store and gpg 2.2's on the very copies, imported in the order they
 * reached us.
 */
import { join } from 'node:path';
import { computeBindings } from '../../src/auth/compute.js';
import { AuthStore } from '../../src/auth/store.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { SigType } from '../../src/openpgp/signature.js';
import { AuthServer } from '../auth/harness.js';
import { NOW, Person } from '../auth/pki.js';
import { GpgHome } from '../helpers/gpg.js';

export const DAY = 86400;

/** A server where Admin is the identity certifier and has certified `userId` (Bob); removed after the test. */
export async function certifiedServer(t: { after: (fn: () => void) => void }, userId: string): Promise<{ server: AuthServer; admin: Person; bob: Person }> {
  const server = new AuthServer();
  const admin = new Person(['Admin <admin@example.net>']);
  const bob = new Person([userId]).certifiedBy(admin);
  t.after(() => {
    server.cleanup();
    admin.cleanup();
    bob.cleanup();
  });
  await server.ok(['setup']);
  await server.addCertifier(admin);
  return { server, admin, bob };
}

/** The packets of a person's certificate by component: the primary key, each user ID, the subkey. */
export interface Parts {
  primary: Buffer;
  /** Per user ID text: the user ID packet, then its signatures. */
  user: (text: string) => Buffer[];
  /** The subkey packet, then its signatures. */
  subkey: Buffer[];
}

export function partsOf(p: Person): Parts {
  const c = p.cert;
  return {
    primary: Buffer.concat([c.primary.packet.raw, ...c.directSigs.map((s) => s.packet.raw)]),
    user: (text) => {
      const u = c.users.find((x) => x.text === text);
      if (!u) throw new Error(`no user ID ${text}`);
      return [u.packet.raw, ...u.signatures.map((s) => s.packet.raw)];
    },
    subkey: [c.subkeys[0].key.packet.raw, ...c.subkeys[0].signatures.map((s) => s.packet.raw)],
  };
}

/** `signer`'s 0x30 revocation of its certification on `target`'s user ID, at `at`. */
export function certificationRevocation(signer: Person, target: Person, text: string, at: number): Buffer {
  const user = target.cert.users.find((u) => u.text === text)!;
  return signV4(
    { kind: 'user', primary: target.primary, user: user.packet },
    { type: SigType.CertRevocation, signer: signer.primary, privateKey: signer.privateKey, hashed: [sp.created(at), sp.issuerFingerprint(signer.primary), sp.reason(32, 'no longer vouched for')] },
  ).packet.raw;
}

/** The owner's 0x28 revocation of its authentication subkey, at `at`. */
export function subkeyRevocation(owner: Person, at: number): Buffer {
  return signV4(
    { kind: 'subkey', primary: owner.primary, subkey: owner.authPacket },
    { type: SigType.SubkeyRevocation, signer: owner.primary, privateKey: owner.privateKey, hashed: [sp.created(at), sp.issuerFingerprint(owner.primary), sp.reason(1, 'compromised')] },
  ).packet.raw;
}

export function storePath(server: AuthServer): string {
  return join(server.dataDir, 'authentication', 'store.sqlite');
}

/** Stores each copy in turn through the store's put (what a keyserver answer ends in). */
export async function putCopies(server: AuthServer, copies: Buffer[]): Promise<void> {
  const store = await AuthStore.open(storePath(server));
  try {
    for (const bytes of copies) await store.putCerts(readCerts(bytes).certs, NOW);
  } finally {
    await store.close();
  }
}

export interface Verdict {
  /** The user ID's validity letter. */
  uid: string;
  /**
   * Whether the authentication subkey is usable. gpg: some `sub` listing of it is not
   * r/e/i (gpg 2.2 lists a subkey duplicated within one copy twice, each judged alone,
   * and a consumer of its listing such as Monkeysphere 0.43 takes either). Ours: its
   * SSH key is granted.
   */
  subkeyLive: boolean;
  /** gpg only: the letter of each listing of the subkey. */
  subkeyLetters?: string[];
}

/** Our verdict on `person`'s user ID, computed from the authentication store at NOW. */
export async function ours(server: AuthServer, person: Person, text = person.userIds[0]): Promise<Verdict & { keys: string[]; coreFpr: string; others: Buffer[] }> {
  const store = await AuthStore.open(storePath(server));
  try {
    const coreFpr = (await store.state()).coreFpr!;
    const { rows } = await computeBindings(store, { now: NOW });
    const row = rows.find((r) => r.fpr === person.fpr && r.uid === text);
    const others: Buffer[] = [];
    for await (const s of store.certs.all()) if (s.fpr !== person.fpr) others.push(s.bytes);
    const keys = row?.keys ?? [];
    return { uid: row?.validity ?? '-', subkeyLive: keys.includes(person.sshKey), keys, coreFpr, others };
  } finally {
    await store.close();
  }
}

/**
 * gpg 2.2's verdict: `setup` (the rest of the keyring, local signatures kept) then each
 * copy of `person`'s certificate imported in order, `ultimate` keys at ultimate trust.
 */
export function gpgVerdict(setup: Buffer[], copies: Buffer[], ultimate: string[], person: Person, text = person.userIds[0]): Verdict {
  const gpg = new GpgHome(NOW);
  try {
    if (setup.length > 0) gpg.ok(['--import-options', 'import-local-sigs', '--import'], Buffer.concat(setup));
    for (const c of copies) gpg.ok(['--import-options', 'import-local-sigs', '--import'], c);
    gpg.ok(['--import-ownertrust'], ultimate.map((f) => `${f}:6:\n`).join(''));
    gpg.ok(['--check-trustdb']);
    let uid: string | undefined;
    const subs: string[] = [];
    let pendingSub: string | undefined;
    for (const f of gpg.colons(['--list-keys', person.fpr])) {
      if (f[0] === 'uid' && f[9] === text) {
        if (uid !== undefined) throw new Error(`gpg lists ${text} twice`);
        uid = f[1];
      }
      if (f[0] === 'sub') pendingSub = f[1];
      else if (f[0] === 'fpr' && pendingSub !== undefined) {
        if (f[9] === person.authPacket.fpr) subs.push(pendingSub);
        pendingSub = undefined;
      }
    }
    if (uid === undefined || subs.length === 0) throw new Error(`gpg does not list ${text} and its subkey`);
    return { uid, subkeyLive: subs.some((l) => !['r', 'e', 'i'].includes(l)), subkeyLetters: subs };
  } finally {
    gpg.cleanup();
  }
}
