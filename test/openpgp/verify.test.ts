/**
 * Signature verification against gpg: for every signature whose issuer is present,
 * our Verifier's verdict equals gpg's `--check-sigs --with-colons` verdict (`!` good,
 * `-` bad), on the fixtures, on corrupted and transplanted copies of them, and on a
 * slice of the Debian keyring.
 *
 * How gpg is run (the oracle must be pure cryptography, like our Verifier; policy is
 * src/cert/'s business):
 * - `--no-default-keyring --keyring FILE` on a copy of the test keyring, not
 *   `--import`: import drops self-signatures that fail to verify, and we want gpg's
 *   verdict on exactly the packets we read, in the same order;
 * - `--allow-weak-key-signatures`: otherwise gpg 2.2.40 answers `%` ("Invalid digest
 *   algorithm") for SHA-1 certifications made after 2019-01-19, a policy rule;
 * - `--allow-weak-digest-algos`: the same for MD5 (old Debian signatures);
 * - `--ignore-time-conflict`: otherwise a signature older than its key is bad for gpg
 *   whatever its cryptography;
 * - the clock frozen at REFERENCE_TIME.
 * Records are matched to our signatures by position within a component: gpg lists a
 * keyring file's signatures in stored order, so the n-th `sig`/`rev` under a component
 * is that component's n-th signature (issuer and class are checked too). Components
 * are matched by user ID content, since gpg lists the primary user ID first.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Cert, readCerts, writeCerts } from '../../src/openpgp/cert.js';
import { type Packet, Tag } from '../../src/openpgp/packets.js';
import { signedChunks, signedDigest, type SigTarget } from '../../src/openpgp/signed-data.js';
import { parseSignature, type Signature, SubpacketType } from '../../src/openpgp/signature.js';
import { type SigCheck, Verifier } from '../../src/verify/verifier.js';
import { GpgHome } from '../helpers/gpg.js';
import { DEBIAN_KEYRING, findIssuer, fixtureBytes, INDEX, keyIndex, type LocatedSig, locatedSigs } from './fixtures.js';

const ORACLE_OPTIONS = ['--allow-weak-key-signatures', '--allow-weak-digest-algos', '--ignore-time-conflict'];

interface GpgSigRecord {
  /** `!` good, `-` bad, `?` issuer missing, `%` gpg could not check. */
  verdict: string;
  issuerKeyId: string;
  created: number;
  /** Signature class, two lowercase hex digits. */
  sigClass: string;
  /** User ID of the issuer, or gpg's error text in brackets for `%`. */
  note: string;
}

/**
 * gpg's check-sigs records per certificate (by fingerprint) and component: "direct",
 * "uid:<bytes as latin1>" (gpg lists the primary user ID first, so user IDs are
 * matched by content; a repeated user ID collects the signatures of every copy, in
 * order), "uat#i" for the i-th user attribute, "sub#j" for the j-th subkey.
 */
interface GpgCheck {
  sigs: Map<string, Map<string, GpgSigRecord[]>>;
  /** gpg's validity letter (field 2) of every primary key and subkey, by key ID. */
  validity: Map<string, string>;
}

/** Undoes gpg's colon-field escaping (\xHH) into a byte-preserving latin1 string. */
const unescapeField = (text: string): string => text.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));

function gpgCheckSigs(gpg: GpgHome, keyring: Buffer, name: string): GpgCheck {
  const file = join(gpg.dir, `${name}.gpg`);
  writeFileSync(file, keyring);
  // gpg exits non-zero when some signature is bad; that is an answer here.
  const r = gpg.run(['--no-default-keyring', '--keyring', file, '--with-colons', '--fixed-list-mode', '--with-fingerprint', ...ORACLE_OPTIONS, '--check-sigs']);
  assert.notEqual(r.stdout, '', `gpg listed nothing for ${name}: ${r.stderr}`);
  const out: GpgCheck = { sigs: new Map(), validity: new Map() };
  let components: Map<string, GpgSigRecord[]> | undefined;
  let current = '';
  let uats = 0;
  let subs = 0;
  let wantPrimaryFpr = false;
  for (const line of r.stdoutBytes.toString('latin1').split('\n')) {
    const f = line.split(':');
    switch (f[0]) {
      case 'pub':
        out.validity.set(f[4], f[1]);
        components = new Map();
        current = 'direct';
        uats = 0;
        subs = 0;
        wantPrimaryFpr = true;
        break;
      case 'fpr':
        if (wantPrimaryFpr && components) out.sigs.set(f[9], components);
        wantPrimaryFpr = false;
        break;
      case 'uid':
        current = `uid:${unescapeField(f[9])}`;
        break;
      case 'uat':
        current = `uat#${uats++}`;
        break;
      case 'sub':
        out.validity.set(f[4], f[1]);
        current = `sub#${subs++}`;
        break;
      case 'sig':
      case 'rev': {
        if (!components) break;
        const list = components.get(current) ?? [];
        list.push({ verdict: f[1], issuerKeyId: f[4], created: Number(f[5]), sigClass: f[10].slice(0, 2), note: unescapeField(f[9]) });
        components.set(current, list);
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/** Our signatures per certificate and component, keyed like GpgCheck. */
function ourComponents(cert: Cert): Map<string, LocatedSig[]> {
  const map = new Map<string, LocatedSig[]>();
  const all = locatedSigs(cert);
  const add = (key: string, sigs: LocatedSig[]) => map.set(key, [...(map.get(key) ?? []), ...sigs]);
  add(
    'direct',
    all.filter((s) => s.where === 'direct'),
  );
  let uats = 0;
  for (const u of cert.users) {
    const key = u.kind === 'userid' ? `uid:${u.packet.body.toString('latin1')}` : `uat#${uats++}`;
    add(
      key,
      all.filter((s) => s.target.kind === 'user' && s.target.user === u.packet),
    );
  }
  cert.subkeys.forEach((s, j) => {
    add(
      `sub#${j}`,
      all.filter((x) => x.target.kind === 'subkey' && x.target.subkey === s.key),
    );
  });
  return map;
}

interface Comparison {
  compared: number;
  good: number;
  bad: number;
  /** Signatures gpg did not judge (`%`, or `?` for an expired or revoked issuer), with why. */
  unjudged: string[];
  mismatches: string[];
  /** "pubAlgorithm/hashAlgorithm" of every compared signature. */
  kinds: Set<string>;
}

/**
 * Verifies every signature of `certs` whose issuer is among `issuers` and compares each
 * verdict with gpg's. `expectSigs` (per cert fpr) pins that every signature was compared.
 */
async function compareWithGpg(certs: Cert[], gpg: GpgCheck, issuers: Cert[] = certs): Promise<Comparison> {
  const keys = keyIndex(issuers);
  const checks: SigCheck[] = [];
  const pairs: Array<{ ours: LocatedSig; theirs: GpgSigRecord; label: string }> = [];
  const result: Comparison = { compared: 0, good: 0, bad: 0, unjudged: [], mismatches: [], kinds: new Set() };
  for (const cert of certs) {
    const theirsByComponent = gpg.sigs.get(cert.primary.fpr);
    if (!theirsByComponent) {
      result.mismatches.push(`${cert.primary.fpr}: not listed by gpg`);
      continue;
    }
    for (const [component, ours] of ourComponents(cert)) {
      const theirs = theirsByComponent.get(component) ?? [];
      if (theirs.length !== ours.length) {
        result.mismatches.push(`${cert.primary.fpr} ${component}: gpg lists ${theirs.length} signatures, we read ${ours.length}`);
        continue;
      }
      ours.forEach((o, i) => {
        const t = theirs[i];
        const label = `${cert.primary.fpr} ${o.where} #${i} (class ${t.sigClass}, issuer ${t.issuerKeyId})`;
        if (t.sigClass !== o.sig.type.toString(16).padStart(2, '0') || !o.sig.issuerKeyIds.includes(t.issuerKeyId)) {
          result.mismatches.push(`${label}: gpg's record does not describe our signature`);
          return;
        }
        const issuer = findIssuer(o.sig, keys);
        if (t.verdict === '?') {
          // gpg does not check a certification whose issuer is expired or revoked at
          // the reference time; it answers "no public key".
          const v = issuer && gpg.validity.get(issuer.keyId);
          if (v === 'e' || v === 'r') result.unjudged.push(`${label}: issuer ${v === 'e' ? 'expired' : 'revoked'}`);
          else if (issuer) result.mismatches.push(`${label}: gpg lacks the issuer we found`);
          return;
        }
        if (t.verdict === '%') {
          result.unjudged.push(`${label}: ${t.note.trim()}`);
          return;
        }
        if (!issuer) {
          result.mismatches.push(`${label}: gpg found an issuer we did not`);
          return;
        }
        checks.push({ issuer, sig: o.sig, target: o.target });
        pairs.push({ ours: o, theirs: t, label });
      });
    }
  }
  const verdicts = await new Verifier().verify(checks);
  pairs.forEach((p, i) => {
    const gpgGood = p.theirs.verdict === '!';
    if (p.theirs.verdict !== '!' && p.theirs.verdict !== '-') result.mismatches.push(`${p.label}: unexpected gpg verdict ${p.theirs.verdict}`);
    else if (verdicts[i] !== gpgGood) result.mismatches.push(`${p.label}: we say ${verdicts[i] ? 'good' : 'bad'}, gpg says ${p.theirs.verdict}`);
    result.compared++;
    result.kinds.add(`${p.ours.sig.pubAlgorithm}/${p.ours.sig.hashAlgorithm}`);
    if (verdicts[i]) result.good++;
    else result.bad++;
  });
  return result;
}

/** Our verdict on every signature of `certs` whose issuer is among them, in order. */
async function ourVerdicts(certs: Cert[]): Promise<boolean[]> {
  const keys = keyIndex(certs);
  const checks: SigCheck[] = [];
  for (const s of certs.flatMap(locatedSigs)) {
    const issuer = findIssuer(s.sig, keys);
    if (issuer) checks.push({ issuer, sig: s.sig, target: s.target });
  }
  return new Verifier().verify(checks);
}

// --- mutations --------------------------------------------------------------------

/** Offset of a view inside the packet it was cut from. */
const at = (packet: Packet, view: Buffer): number => view.byteOffset - packet.raw.byteOffset;

/** Sets the two-byte digest prefix so only the cryptographic check can reject the signature. */
function fixLeft16(raw: Buffer, target: SigTarget): Buffer {
  const packet = reframe(raw);
  const sig = parseSignature(packet);
  const digest = signedDigest(sig, signedChunks(sig, target));
  const out = Buffer.from(raw);
  digest.copy(out, at(packet, sig.left16), 0, 2);
  return out;
}

/** A Packet view of one raw signature packet (old- or new-format header). */
function reframe(raw: Buffer): Packet {
  const { certs, problems } = readCerts(Buffer.concat([FAKE_KEY.raw, FAKE_UID, raw]));
  assert.equal(problems.length, 0);
  return certs[0].users[0].signatures[0].packet;
}
const FAKE_KEY = readCerts(fixtureBytes('dave')).certs[0].primary.packet;
const FAKE_UID = Buffer.from([0xb4, 0x01, 0x78]);

type Mutation = (s: LocatedSig) => Buffer | undefined;

/** Flips the low bit of the last byte of the signature value. */
const flipValue: Mutation = (s) => {
  const raw = Buffer.from(s.entry.packet.raw);
  const last = s.sig.values[s.sig.values.length - 1];
  raw[at(s.entry.packet, last) + last.length - 1] ^= 0x01;
  return raw;
};

/** Changes the hashed creation time by one second (the digest prefix then no longer matches). */
const flipHashed: Mutation = (s) => {
  const sp = s.sig.subpackets.find((x) => x.hashed && x.type === SubpacketType.CreationTime);
  if (!sp) return undefined;
  const raw = Buffer.from(s.entry.packet.raw);
  raw[at(s.entry.packet, sp.data) + 3] ^= 0x01;
  return raw;
};

/** The same, with the digest prefix recomputed, so the signature value itself must fail. */
const flipHashedFixed: Mutation = (s) => {
  const raw = flipHashed(s);
  return raw && fixLeft16(raw, s.target);
};

/** The certificates with some signature packets replaced; gpg and we then read the same bytes. */
function mutate(certs: Cert[], mutation: Mutation): { bytes: Buffer; mutated: number } {
  let mutated = 0;
  const parts: Buffer[] = [];
  for (const cert of certs) {
    const replaced = new Map<Packet, Buffer>();
    for (const s of locatedSigs(cert)) {
      const raw = mutation(s);
      if (raw) {
        replaced.set(s.entry.packet, raw);
        mutated++;
      }
    }
    for (const p of cert.packets) parts.push(replaced.get(p) ?? p.raw);
  }
  return { bytes: Buffer.concat(parts), mutated };
}

// --- tests -------------------------------------------------------------------------

describe('Verifier agrees with gpg --check-sigs', () => {
  let gpg: GpgHome;
  let all: Cert[];
  before(() => {
    gpg = new GpgHome();
    all = readCerts(fixtureBytes('all')).certs;
  });
  after(() => gpg.cleanup());

  test('every signature of the fixtures', async () => {
    const r = await compareWithGpg(all, gpgCheckSigs(gpg, writeCerts(all), 'all'));
    assert.deepEqual(r.mismatches, []);
    assert.deepEqual(r.unjudged, []);
    // Every signature in the set has its issuer in the set, and all are good, SHA-1 included.
    assert.equal(r.compared, all.reduce((n, c) => n + locatedSigs(c).length, 0));
    assert.equal(r.bad, 0);
    assert.ok(r.compared >= 50, `compared ${r.compared}`);
  });

  test("why --allow-weak-key-signatures: by default gpg leaves bob's 2022 SHA-1 certification unchecked (`%`)", () => {
    // gpg-check-sigs.txt is gpg's default listing at the reference time (see the fixture README).
    const records = readFileSync(new URL('../fixtures/certs/gpg-check-sigs.txt', import.meta.url), 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .filter((f) => f[0] === 'sig' || f[0] === 'rev');
    const unchecked = records.filter((f) => f[1] !== '!');
    assert.deepEqual(
      unchecked.map((f) => [f[1], f[4], f[5], f[9], f[15]]),
      [['%', INDEX.bob.fpr.slice(-16), '1643673600', '[Invalid digest algorithm] ', '2']],
    );
    // grace's SHA-1 certification of 2018 is before the 2019-01-19 cutoff and checked.
    assert.ok(records.some((f) => f[1] === '!' && f[4] === INDEX.grace.fpr.slice(-16) && f[15] === '2'));
  });

  test('the fixtures cover the algorithms and classes they claim to', () => {
    const sigs = all.flatMap(locatedSigs).map((s) => s.sig);
    const seen = (pred: (s: Signature) => boolean) => sigs.some(pred);
    assert.ok(seen((s) => s.pubAlgorithm === 1 && s.hashAlgorithm === 2 && s.created < 1547856000), 'RSA SHA-1 before 2019-01-19');
    assert.ok(seen((s) => s.pubAlgorithm === 1 && s.hashAlgorithm === 2 && s.created > 1547856000), 'RSA SHA-1 after 2019-01-19');
    assert.ok(seen((s) => s.pubAlgorithm === 19), 'ECDSA');
    assert.ok(seen((s) => s.pubAlgorithm === 22), 'EdDSA');
    for (const type of [0x10, 0x11, 0x12, 0x13, 0x18, 0x1f, 0x20, 0x28, 0x30]) {
      assert.ok(
        seen((s) => s.type === type),
        `class 0x${type.toString(16)}`,
      );
    }
    assert.ok(seen((s) => !s.exportable), 'local certification');
    assert.ok(seen((s) => s.trust?.level === 1 && s.trust.amount === 120 && s.regexes.length === 1), 'trust signature');
    assert.ok(seen((s) => !s.exportable && s.trust?.level === 2 && s.trust.amount === 60 && s.regexes.length === 0), 'local trust signature');
    assert.ok(seen((s) => s.expiresAfter === 90 * 86400), 'certification with an expiry');
    assert.ok(seen((s) => s.revocationKeys.length === 1), 'designated revoker');
    assert.ok(seen((s) => s.type === 0x20 && s.revocationReason?.code === 1), 'soft key revocation');
    assert.ok(seen((s) => s.type === 0x20 && s.revocationReason?.code === 2), 'hard key revocation');
  });

  for (const [name, mutation] of [
    ['a flipped bit in the signature value', flipValue],
    ['a flipped bit in a hashed subpacket', flipHashed],
    ['a flipped bit in a hashed subpacket, digest prefix recomputed', flipHashedFixed],
  ] as const) {
    test(`${name}: every signature bad, as for gpg`, async () => {
      const { bytes, mutated } = mutate(all, mutation);
      const certs = readCerts(bytes).certs;
      const r = await compareWithGpg(certs, gpgCheckSigs(gpg, bytes, 'mutated'), certs);
      assert.deepEqual(r.mismatches, []);
      // gpg reports a designated revocation it cannot validate as "General error" (`%`),
      // not as a bad signature; that is the only one it leaves unjudged.
      assert.ok(
        r.unjudged.every((u) => / direct #\d+ \(class 20,.*General error/.test(u)),
        r.unjudged.join('\n'),
      );
      assert.equal(r.compared + r.unjudged.length, mutated);
      assert.equal(r.good, 0);
      // Our verdict on every mutated signature, judged by gpg or not: bad.
      assert.deepEqual(await ourVerdicts(certs), new Array(mutated).fill(false));
    });
  }

  test('transplanted signatures are bad, as for gpg', async () => {
    const byName = (n: string) => all.find((c) => c.primary.fpr === INDEX[n].fpr)!;
    const uma = byName('uid-revoked');
    const bob = byName('bob');
    const carol = byName('carol');
    const subkeys = byName('subkeys');
    const aliceCert = (users: Cert['users'][number]) => users.signatures.find((s) => s.sig?.issuerFingerprints[0] === INDEX.alice.fpr)!;
    const plain = (cert: Cert, replace: Map<Packet, Buffer>) => Buffer.concat(cert.packets.map((p) => replace.get(p) ?? p.raw));
    const targetOf = (cert: Cert, user: Packet): SigTarget => ({ kind: 'user', primary: cert.primary, user });
    // 1. alice's certifications of Uma's two user IDs, swapped.
    const [u0, u1] = uma.users;
    const c0 = aliceCert(u0).packet;
    const c1 = aliceCert(u1).packet;
    // 2. alice's certification of bob, on carol's user ID instead of alice's own certification of carol.
    const carolCert = aliceCert(carol.users[0]).packet;
    // 3. subkey binding signatures of Sam's first two subkeys, swapped.
    const [b0, b1] = [subkeys.subkeys[0].signatures[0].packet, subkeys.subkeys[1].signatures.find((s) => s.sig?.type === 0x18)!.packet];
    const variants: Array<[string, Buffer[]]> = [
      [
        'as found',
        [
          plain(uma, new Map([[c0, c1.raw], [c1, c0.raw]])),
          plain(carol, new Map([[carolCert, aliceCert(bob.users[0]).packet.raw]])),
          plain(subkeys, new Map([[b0, b1.raw], [b1, b0.raw]])),
        ],
      ],
      [
        'digest prefix recomputed',
        [
          plain(
            uma,
            new Map([
              [c0, fixLeft16(c1.raw, targetOf(uma, u0.packet))],
              [c1, fixLeft16(c0.raw, targetOf(uma, u1.packet))],
            ]),
          ),
          plain(carol, new Map([[carolCert, fixLeft16(aliceCert(bob.users[0]).packet.raw, targetOf(carol, carol.users[0].packet))]])),
          plain(
            subkeys,
            new Map([
              [b0, fixLeft16(b1.raw, { kind: 'subkey', primary: subkeys.primary, subkey: subkeys.subkeys[0].key })],
              [b1, fixLeft16(b0.raw, { kind: 'subkey', primary: subkeys.primary, subkey: subkeys.subkeys[1].key })],
            ]),
          ),
        ],
      ],
    ];
    for (const [label, parts] of variants) {
      // alice is there as an issuer (her own signatures are compared too, and good).
      const bytes = Buffer.concat([...parts, writeCerts([byName('alice')])]);
      const certs = readCerts(bytes).certs;
      const r = await compareWithGpg(certs, gpgCheckSigs(gpg, bytes, 'transplant'));
      assert.deepEqual(r.mismatches, [], label);
      // Everything else on those certificates is still good: exactly the 5 transplanted ones are bad.
      assert.equal(r.bad, 5, label);
      assert.ok(r.good > 0, label);
    }
  });

  test("carol's signing subkey carries a good back-signature; a corrupted one is bad", async () => {
    const carol = all.find((c) => c.primary.fpr === INDEX.carol.fpr)!;
    const sub = carol.subkeys[0];
    const binding = sub.signatures[0].sig!;
    assert.equal(binding.embedded.length, 1);
    const target: SigTarget = { kind: 'subkey', primary: carol.primary, subkey: sub.key };
    const embedded = (body: Buffer): Signature => {
      const packet: Packet = { tag: Tag.Signature, offset: 0, raw: body, body };
      return parseSignature(packet);
    };
    const back = embedded(binding.embedded[0]);
    assert.equal(back.type, 0x19);
    const corrupted = Buffer.from(binding.embedded[0]);
    corrupted[corrupted.length - 1] ^= 0x01;
    const verdicts = await new Verifier().verify([
      { issuer: sub.key, sig: back, target },
      { issuer: sub.key, sig: embedded(corrupted), target },
      // Made by the subkey, not the primary: the primary cannot have made it.
      { issuer: carol.primary, sig: back, target },
    ]);
    assert.deepEqual(verdicts, [true, false, false]);
    // gpg agrees that the back-signature is good: it lists the subkey as able to sign.
    const listed = readFileSync(new URL('../fixtures/certs/gpg-list-keys.txt', import.meta.url), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('sub:') && l.split(':')[4] === sub.key.keyId);
    assert.ok(listed, 'carol subkey listed');
    assert.equal(listed.split(':')[11], 's');
  });
});

describe('Verifier agrees with gpg on the Debian keyring', () => {
  let gpg: GpgHome;
  before(() => {
    gpg = new GpgHome();
  });
  after(() => gpg.cleanup());

  // The whole keyring takes gpg about 70 s (48,000 signatures; gpg scans a keyring file
  // per issuer lookup). The first 300 certificates plus every non-RSA one (DSA, ECDSA,
  // EdDSA) cover every algorithm and hash in it in a few seconds.
  // MS_VERIFY_DEBIAN_CERTS=905 compares the whole keyring.
  const count = Number(process.env.MS_VERIFY_DEBIAN_CERTS ?? 300);

  test(`first ${count} certificates and every non-RSA one: every verdict gpg gives`, async (t) => {
    const certs = readCerts(readFileSync(DEBIAN_KEYRING)).certs.filter((c, i) => i < count || c.primary.algorithm !== 1);
    const r = await compareWithGpg(certs, gpgCheckSigs(gpg, writeCerts(certs), 'debian'));
    assert.deepEqual(r.mismatches, []);
    // gpg left unjudged only certifications by expired or revoked issuers, and those it calls "Invalid signature class".
    assert.deepEqual(
      r.unjudged.filter((u) => !/: issuer (expired|revoked)$|\[Invalid signature class\]$/.test(u)),
      [],
    );
    t.diagnostic(`${certs.length} certificates: ${r.compared} verdicts compared (${r.good} good, ${r.bad} bad), ${r.unjudged.length} left unjudged by gpg`);
    assert.ok(r.compared > 5000, `compared ${r.compared}`);
    assert.ok(r.good > 5000, `good ${r.good}`);
    // RSA with SHA-1, RIPEMD-160, SHA-224/256/384/512; DSA; ECDSA; EdDSA.
    for (const kind of ['1/2', '1/3', '1/8', '1/9', '1/10', '1/11', '17/10', '19/9', '22/8', '22/10']) {
      assert.ok(r.kinds.has(kind), `algorithm/hash ${kind} compared`);
    }
  });
});
