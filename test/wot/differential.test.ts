/**
 * Differential test against GnuPG 2.2.40: random webs (test/helpers/webgen.ts) are
 * imported into throwaway gpg homes at a frozen time, `--check-trustdb` runs, and every
 * key's and user ID's validity letter from `--list-keys --with-colons` is compared with
 * ours. Under GnuPG's rules alone the letters must be equal everywhere; our stricter
 * verdict may only be lower, and only with the stricter-than-gnupg reason.
 * WOT_DIFF_WEBS=N sets the number of webs (default 200); WOT_DIFF_SEED the first seed.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Keyring } from '../../src/keyring/keyring.js';
import { readCerts } from '../../src/openpgp/cert.js';
import { Verifier } from '../../src/verify/verifier.js';
import { computeKeyringTrust } from '../../src/wot/build.js';
import type { TrustNetwork } from '../../src/wot/network.js';
import type { ValidityLetter } from '../../src/wot/types.js';
import { GpgHome } from '../helpers/gpg.js';
import { describeAround, type GeneratedWeb, generateWeb, rsaPool } from '../helpers/webgen.js';

const WEBS = Number(process.env.WOT_DIFF_WEBS ?? 200);
const FIRST_SEED = Number(process.env.WOT_DIFF_SEED ?? 1);
const RANK: Record<string, number> = { u: 6, f: 5, m: 4, n: 3, q: 2, e: 1, '-': 0, r: 0, i: 0 };

interface GpgKeyView {
  pub: string;
  uids: Map<string, string>;
}

/** `--with-colons` escapes bytes as \xHH in user IDs. */
function unescapeColons(s: string): string {
  return Buffer.from(s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(Number.parseInt(h, 16))), 'latin1').toString('utf8');
}

function gpgValidity(web: GeneratedWeb): Map<string, GpgKeyView> {
  const p = web.params;
  const gpg = new GpgHome(web.now, `marginals-needed ${p.marginalsNeeded}\ncompletes-needed ${p.completesNeeded}\nmax-cert-depth ${p.maxCertDepth}\n`);
  try {
    gpg.ok(['--import-options', 'import-local-sigs', '--import'], web.bytes);
    gpg.ok(['--import-ownertrust'], web.ownertrustText);
    gpg.ok(['--check-trustdb']);
    const out = new Map<string, GpgKeyView>();
    let current: GpgKeyView | undefined;
    let wantFpr = false;
    for (const f of gpg.colons(['--list-keys'])) {
      if (f[0] === 'pub') {
        current = { pub: f[1], uids: new Map() };
        wantFpr = true;
      } else if (f[0] === 'fpr' && wantFpr && current) {
        out.set(f[9], current);
        wantFpr = false;
      } else if (f[0] === 'uid' && current) current.uids.set(unescapeColons(f[9]), f[1]);
      else if (f[0] === 'sub') wantFpr = false;
    }
    return out;
  } finally {
    gpg.cleanup();
  }
}

async function ours(web: GeneratedWeb, detail: 'explanations' | 'validity' = 'explanations'): Promise<TrustNetwork> {
  const ring = new Keyring(readCerts(web.bytes).certs);
  const { network } = await computeKeyringTrust(ring, { now: web.now, roots: [], ownertrust: web.ownertrust, ...web.params, detail }, { verifier: new Verifier() });
  return network;
}

interface Tally {
  webs: number;
  bindings: number;
  keys: number;
  stricter: number;
  byLetter: Record<string, number>;
}

describe(`differential: ${WEBS} random webs against gpg 2.2.40 (seeds ${FIRST_SEED}…${FIRST_SEED + WEBS - 1})`, () => {
  const pool = rsaPool();
  const tally: Tally = { webs: 0, bindings: 0, keys: 0, stricter: 0, byLetter: {} };
  after(() => {
    process.stdout.write(
      `# differential: ${tally.webs} webs, ${tally.keys} keys, ${tally.bindings} bindings; gpg letters ${JSON.stringify(tally.byLetter)}; ${tally.stricter} bindings refused by the stricter rules\n`,
    );
  });

  for (let seed = FIRST_SEED; seed < FIRST_SEED + WEBS; seed++) {
    it(`seed ${seed}`, async () => {
      const web = generateWeb(seed, { rsa: pool });
      const theirs = gpgValidity(web);
      const net = await ours(web);
      const problems: string[] = [];
      assert.equal(theirs.size, web.keys.length, `gpg imported every key (seed ${seed})`);
      for (const [fpr, view] of theirs) {
        tally.keys++;
        const mineKey = net.keyValidity(fpr, 'gnupg');
        if (mineKey !== view.pub) problems.push(`key ${fpr}: gpg ${view.pub}, ours (gnupg rules) ${mineKey}\n${describeAround(web, fpr)}`);
        for (const [uid, letter] of view.uids) {
          tally.bindings++;
          tally.byLetter[letter] = (tally.byLetter[letter] ?? 0) + 1;
          const e = net.explain(fpr, uid);
          if (e.gnupgValidity !== letter) {
            problems.push(`binding ${fpr} ${JSON.stringify(uid)}: gpg ${letter}, ours (gnupg rules) ${e.gnupgValidity}\n${describeAround(web, fpr)}`);
            continue;
          }
          if (e.validity !== letter) {
            tally.stricter++;
            const ok = RANK[e.validity] < RANK[letter as ValidityLetter] && e.reasons.some((r) => r.code === 'stricter-than-gnupg');
            if (!ok) problems.push(`binding ${fpr} ${JSON.stringify(uid)}: gpg ${letter}, ours ${e.validity} without a stricter-than-gnupg reason\n${describeAround(web, fpr)}`);
          }
        }
      }
      // Verifying only what decides the letters gives the same letters.
      const lean = await ours(web, 'validity');
      assert.deepEqual(lean.bindings(), net.bindings(), `detail 'validity' changes no letter (seed ${seed})`);
      for (const fpr of theirs.keys()) assert.equal(lean.keyValidity(fpr, 'gnupg'), net.keyValidity(fpr, 'gnupg'));
      tally.webs++;
      if (problems.length > 0) assert.fail(`seed ${seed}: ${problems.length} mismatch(es); first:\n${problems[0]}`);
    });
  }
});
