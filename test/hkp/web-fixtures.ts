/**
 * Certificates for the web page tests, made with src/openpgp/build.ts (test/auth/pki.ts):
 * Alice certified by Bob (on the server) and by Carol (not on it), an attested certification,
 * a host key `ssh://host.example.org` certified by Alice, a revoked key, a key with hostile
 * user IDs (markup, a right-to-left override, Cyrillic lookalikes), and a flooded certificate
 * with thousands of certifications by unknown issuers. `fakeKeyserver` stores uploads as they
 * are, for tests that do not exercise the ingest policy.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/errors.js';
import type { CertOutcome, SubmitOptions, SubmitReport, WebKeyserver } from '../../src/hkp/web/contract.js';
import { attestationDigest } from '../../src/hkp/web/describe.js';
import { dearmor } from '../../src/openpgp/armor.js';
import { signV4, sp, subpacket } from '../../src/openpgp/build.js';
import { type Cert, readCerts, userIds } from '../../src/openpgp/cert.js';
import { SigType, SubpacketType } from '../../src/openpgp/signature.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { CREATED, NOW, Person } from '../auth/pki.js';

export { NOW };

export const EVIL_MARKUP = '<script>alert("x")</script> Mallory <mallory@example.org>';
/** Shows as "mallory@example.org" reversed: U+202E RIGHT-TO-LEFT OVERRIDE. */
export const EVIL_RTL = 'Mallory \u202Egro.elpmaxe@yrollam';
/** "paypal" with a Cyrillic а (U+0430). */
export const EVIL_LOOKALIKE = 'p\u0430ypal support <support@p\u0430ypal.com>';

export interface WebPeople {
  alice: Person;
  bob: Person;
  carol: Person;
  host: Person;
  revoked: Person;
  mallory: Person;
  flooded: Person;
  /** Certifications on the flooded certificate. */
  floodSize: number;
}

function withSignature(p: Person, userId: string, sigRaw: Buffer): void {
  const raws: Buffer[] = [];
  const user = p.cert.users.find((u) => u.text === userId)!;
  const last = (user.signatures[user.signatures.length - 1]?.packet ?? user.packet).raw;
  for (const pk of p.cert.packets) {
    raws.push(pk.raw);
    if (pk.raw === last) raws.push(sigRaw);
  }
  const { certs } = readCerts(Buffer.concat(raws));
  p.cert = certs[0];
}

/** Alice attests the certifications on her first user ID (an attestation, 0x16, listing their digests). */
function attestAll(p: Person, userId: string, at: number): void {
  const user = p.cert.users.find((u) => u.text === userId)!;
  const digests = user.signatures
    .map((e) => e.sig!)
    .filter((s) => s.type >= SigType.GenericCert && s.type <= SigType.PositiveCert && !s.issuerFingerprints.includes(p.fpr))
    .map((s) => attestationDigest(s, 8)!);
  const sig = signV4(
    { kind: 'user', primary: p.primary, user: user.packet },
    { type: SigType.Attestation, signer: p.primary, privateKey: p.privateKey, hashed: [sp.created(at), sp.issuerFingerprint(p.primary), subpacket(SubpacketType.AttestedCertifications, Buffer.concat(digests))] },
  );
  withSignature(p, userId, sig.packet.raw);
}

/** `n` certifications on a user ID (the first by default), each claiming a different (unknown) issuer. */
export function flood(target: Person, signer: Person, n: number, userIndex = 0): void {
  const user = target.cert.users[userIndex];
  const sigs: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const fakeFpr = Buffer.concat([Buffer.from([4]), randomBytes(20)]);
    const sig = signV4(
      { kind: 'user', primary: target.primary, user: user.packet },
      { type: SigType.GenericCert, signer: signer.primary, privateKey: signer.privateKey, hashed: [sp.created(CREATED + 7200 + i), subpacket(SubpacketType.IssuerFingerprint, fakeFpr)], unhashed: [] },
    );
    sigs.push(sig.packet.raw);
  }
  const raws = target.cert.packets.map((p) => p.raw);
  const at = raws.indexOf(user.signatures[user.signatures.length - 1].packet.raw) + 1;
  // No spread: a flood has more signatures than a call takes arguments.
  target.cert = readCerts(Buffer.concat([...raws.slice(0, at), Buffer.concat(sigs), ...raws.slice(at)])).certs[0];
}

export function makePeople(floodSize = 3000): WebPeople {
  const bob = new Person(['Bob <bob@example.org>']);
  const carol = new Person(['Carol <carol@example.net>']);
  const alice = new Person(['Alice <alice@example.org>', 'Alice (work) <alice@work.example>']);
  alice.certifiedBy(bob).certifiedBy(carol, 'Alice <alice@example.org>', CREATED + 2 * 86400);
  attestAll(alice, 'Alice <alice@example.org>', CREATED + 3 * 86400);
  const host = new Person(['ssh://host.example.org']);
  host.certifiedBy(alice);
  const revoked = new Person(['Revoked Rita <rita@example.org>']);
  revoked.revokeKey(CREATED + 86400);
  const mallory = new Person([EVIL_MARKUP, EVIL_RTL, EVIL_LOOKALIKE]);
  const flooded = new Person(['Flooded Fred <fred@example.org>']);
  flooded.certifiedBy(bob, 'Flooded Fred <fred@example.org>');
  flood(flooded, mallory, floodSize);
  return { alice, bob, carol, host, revoked, mallory, flooded, floodSize };
}

export interface WebStore {
  store: Store;
  dir: string;
  close(): Promise<void>;
}

/** A temporary SQLite store holding `certs`. */
export async function openWebStore(certs: Cert[]): Promise<WebStore> {
  const dir = mkdtempSync(join(tmpdir(), 'ms-web-'));
  const store = await openStore(join(dir, 'keys.sqlite'));
  await store.certs.putMany(certs, NOW - 86400);
  return {
    store,
    dir,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A keyserver that stores what it is given, merged, without policy: for page tests. Throws
 * MS_KS_UNPARSEABLE when the input holds no certificate, and whatever `failWith` says.
 */
export function fakeKeyserver(store: Store): WebKeyserver & { calls: Array<{ input: Buffer; opts: SubmitOptions }>; failWith?: Error } {
  const ks = {
    store,
    calls: [] as Array<{ input: Buffer; opts: SubmitOptions }>,
    failWith: undefined as Error | undefined,
    async submit(input: Buffer, opts: SubmitOptions): Promise<SubmitReport> {
      ks.calls.push({ input, opts });
      if (ks.failWith) throw ks.failWith;
      let bytes: Buffer;
      try {
        bytes = input.includes('-----BEGIN PGP') ? dearmor(input) : input;
      } catch (err) {
        throw new InputError('MS_KS_UNPARSEABLE', 'the upload holds no OpenPGP certificate', { cause: err });
      }
      const { certs } = readCerts(bytes, { allowSecret: false });
      if (certs.length === 0) throw new InputError('MS_KS_UNPARSEABLE', 'the upload holds no OpenPGP certificate');
      const out: CertOutcome[] = [];
      for (const cert of certs) {
        const r = await store.certs.put(cert, opts.now);
        out.push({
          fpr: r.fpr,
          status: r.status,
          userIds: userIds(r.cert).map((u) => u.text),
          kept: { userIds: userIds(r.cert).length, subkeys: r.cert.subkeys.length, certifications: 0 },
          held: 0,
          released: 0,
          dropped: {},
        });
      }
      return { certs: out };
    },
  };
  return ks;
}
