import { readFileSync } from 'node:fs';
import { readCerts } from '../src/openpgp/cert.js';
import { Keyring } from '../src/keyring/keyring.js';
import { Verifier, type SigCheck } from '../src/verify/verifier.js';
import { VerifyPool } from '../src/verify/pool.js';
import { MemoryVerificationCache } from '../src/verify/cache.js';
let t = performance.now();
const bytes = readFileSync('/usr/share/keyrings/debian-keyring.gpg');
const { certs, problems } = readCerts(bytes);
console.log('parse', certs.length, problems.length, (performance.now() - t).toFixed(0), 'ms');
const ring = new Keyring(certs);
const checks: SigCheck[] = [];
for (const c of ring) for (const u of c.users) for (const s of u.signatures) {
  if (!s.sig || s.sig.type < 0x10 || s.sig.type > 0x13) continue;
  if (s.sig.issuerFingerprints.includes(c.primary.fpr) || s.sig.issuerKeyIds.includes(c.primary.keyId)) continue;
  for (const issuer of ring.issuerCandidates(s.sig.issuerFingerprints, s.sig.issuerKeyIds)) checks.push({ issuer: issuer.primary, sig: s.sig, target: { kind: 'user', primary: c.primary, user: u.packet } });
}
console.log('checks', checks.length, (performance.now() - t).toFixed(0), 'ms');
const cache = new MemoryVerificationCache();
const pool = new VerifyPool();
const v = new Verifier({ cache, pool });
const r = await v.verify(checks);
console.log('cold', r.filter(Boolean).length, v.stats, (performance.now() - t).toFixed(0), 'ms');
t = performance.now();
const v2 = new Verifier({ cache, pool });
const r2 = await v2.verify(checks);
console.log('warm', r2.filter(Boolean).length, v2.stats, (performance.now() - t).toFixed(0), 'ms');
await pool.close();
