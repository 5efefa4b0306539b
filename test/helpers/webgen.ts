/**
 * A seeded generator of random webs of trust for differential tests against GnuPG:
 * 20–60 keys (Ed25519 made with build.ts, a few RSA from a shared pool), user IDs in a
 * handful of domains, random certifications (classes, trust signatures with depth,
 * amount and domain scopes, expiry, revocation, non-revocable and local ones, SHA-1
 * before and after GnuPG's cut-off), revoked and expired keys and user IDs, and random
 * ownertrust. Output: the keyring bytes gpg imports, the ownertrust, and a description.
 */
import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { keyPacketFor, signV4, sp, userIdPacket } from '../../src/openpgp/build.js';
import type { KeyPacket } from '../../src/openpgp/key-packet.js';

/** 2023-01-15T00:00:00Z. */
export const WEB_NOW = 1673740800;
export const DAY = 86400;
const KEY_EPOCH = 1483228800; // 2017-01-01
const SHA1_CUTOFF = 1547856000; // 2019-01-19

/** sfc32: small, fast, seedable. */
export function rngFor(seed: number): () => number {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 + seed * 31;
  let c = 0xb7e15162 ^ (seed << 7);
  let d = 1;
  const next = () => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/** Three RSA-2048 keys made once (PKCS#8, base64): RSA key generation is too slow for every web. */
const RSA_POOL_PKCS8 = [
  'MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCon/LONEXtSbvqzfWf+M0CQi/97bGs/9iampKzfg9Dv13aBiMZ2e8odztuIjThENrrO3k7vlq4jF4CePSpYbsh7+AR58XsZRHCUWoNHxjvEWj1RRo0+ysc8BDKWMEzSx+cZ8KNIp+dRQ3K8+05O+cwWiRi/0rFBed0PTsCi1J2JpSAbAQynikN9A/gDt9Rop8roduU7G8SyzUdGTAxyhHjBBJ9HtmM4k7NQOWUQXtftbjUdlyNN++uFpIpVYi+yJmdCDIblRTYSWf+QW4AXpxivquqdjXMB8ZjThfvFTuYlt6B9/FkH1XJYzx1ZMKcNK44Nj2mnbQIWue8LlPoQuA1AgMBAAECggEABiWf3XaYQGzKSmZaOH27b3YH4izI4NRtrbIC7go/xMKGELZPj5f3uPhp9LQdviSgp0RCeklz+xDTUg0yoESH8uRe9hgi0IurU1cncArncZ5DzPPJNLpzA/KmZ2ArBCi496rsbILL4cOhuCQ7PhkLxBO+7e9hvHFD7xw6TttExshU0vSIbhkFXouPiYuBPipCK+nep3Xjbf6P/yc5fq15yVQmbwoKMIWmM2vM9eSGuI46qq5nUjFXrYIKueL6dsFoBk2eK5fqgQIC2d49FcJ5AklaKRiC2QCTfvfDKHBF0HYwdllrrRE+mRQedgQtBAq7q4Sc5VioMFLcvyblUBkMowKBgQDjcjEqXBRPHPdA4aVYvz4fV07zKoXOvtKG7nCxDpUsqINNK03E13nby4qnhgPM2/C1wu6b/yPDo3G9l3am8K8W3M12m4Xf4Ips2nz2fNRz+AYe13+Ji0458tIK2kk1biKmEDYzcik3iM+V8qQerm7ELsrS7M1MmOpJmwr9XFgVnwKBgQC9y1IdrVq692UDpLNqBUNPg4Ahzz3LRKetij8Oy7AM7T0p0qlzWZNIElCZtM8xQNgy4BOW8Er9ak9d5Bu4ekO3wKGAz1/2OX16Azx3zL0KLubE/CiGJVGt9+UvzsvXmwUvmxn+Wk2wIiay8bJ5e96+3jMiRPeqsHKtBcMwFBcxqwKBgQCpjuK6OoTlaammE9HpNEECqlrwCr5QH4/hCXa3eDCbZ1DjQaorWZu90KKgOtcwbLKpPhYV84HdAkbz2SuaTomo2JjPmCeYe9OWTNemBe94OOmPKoYoqtJ5ft05O/whueZYuHM/rRavEO34Ujgpq05mMKAB2IlAVisrDkuGD8aW7wKBgQC8FqcGaiokZ9Bfz/VN+HFAd52f4/XlX+Cchwj+7LVH2kRnEjKD8h2Xqy7dZOaAdTbNFGvVhcWLZrPI5KrkI6bAj9J+CQWcylSjelmOkAQ390sTpKG0b3+G3MjwnAw/W43EI/2aqHudNfsME6M/6ZZRqXsbVyXqrnq3JaLOHtrtiQKBgGhxUMF/8J+O7aVfRLeftvGNg78VbGNzkWivNmgvgbZekLBdXhg2ylNC2vimyraQrxZTnsx4VJ67wLUMuV1GaZy4CzQ1d5ee4QmSZWZ3xa/kub0ZTRSrSL9T/g1CaX4Zt9FHohoUwZo9cwKXmhmAorS+IQSQ8+nBMEJhS+M7A8RZ',
  'MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCaPdaf4/SykOlAfCI6tye9X3a7If67ZkZi/gHTw/AGnUVFRtlE2g0gWjrGh7opWEM86LCNvYLVR4Uei9y8APhtpdhaoVygmVZeIQ9Hdunqxgcad6ooNrpkWHva68FZ71+23HZ73qL4vZjI7oSyxYtjsF/rFpW2ak431ULE+l2Axl3khoNEAuERAYg+sp2W7SPG3IDOnsAm68KY8cKXyjTq6t9G4yKuvM8bOgkNyqs8nYOBq+rBTzjLhO1RDEYL3WTqlFfHPP5/eHZg4hmZxJb15hP4ZADvTU9ZmCK8VjcemQ71hojuvgarH5Ai+BGhs/+6qwbSgHzmn8zdCkV2cXtxAgMBAAECggEABNqv/tSZOJa3EZGKj/2gS31l9qQecMpKai6HcxFIREQGOGS/PSON7NQMJCAEyczyYkgKOO7DP6g+YjiJghT3fJdu6oTILhF/Wmto0EFnwZzZf8Gu/jChP3vZq4lWiqieAvq3o6S9TS3l4WKA1IHDNhgon6TkgbMBKtCMVzfQMieXjijCylfY9nhboQ/6DTLb1GJKuRAem0unxVSDSKbRGYX5fYZ+70AkChNz6YjZVK8zQuoSHxyTP18timZE+eWMnsC9Uam2N89E6ivSAP8QH7Xzgo9/hFD/sIDyfDNZHWebH7NZFMX5BYS5cbDIfY0E/7wt4KzIPSHjB4NejHcZwQKBgQDIhfKBGbS4dramzV8jH3PvtB1/YsQQfz+OFRS+mxBqxeNYOG+GHU6OusAeVOrYY1B953qDRKgdQMHQwK43/AHSSy3KpKweULlxFwXQenZZCvuaAHMfcv8A7Q0IzkisjnVIzuZ3S/GuyMMX2PUeA50ZIuL0/HpizVDoW180sA4WMQKBgQDE6f4cospsnFToA+lCLFTbVIVi4xSyoPoCwuUzcRTEfm5pVozP+feNK8AlQriKqaLLNNNLpX54Bhz10G2F4m10iIC5MXy6qlptOJQ4sxEhUDmoxGB72zz/vbEDRo/DbIuAa78mC8OMdPHFtc13L+cn6L0AYHj3xIkvONzWMlApQQKBgEzq7JnO9X6osumK78p2Py+chJAfn5vAY+2pcnqm2oZKgCmQBF+KkF65jgZUhn0Yo4CYMWt3A5GtDGt57Zo2BbDX+6m2vvsl9exGa4mL4CfJybdKIt7WarC9PXm6PzBJuP2Dt+3c6Mkl44gbRfMMac+BjVNyIbQSk819dyiru8uRAoGAYu1foclTQx+DNJEKdhlJhGtBG/4Tnu5qzEpX1fFAyrruA3PdCHt/l+fb/5w2lEtHIynl4YJCOFBx6jkNXQ71iG8vpFqtXCZLicW8CYRE3eStIxGNm4v4aE9Hh+rCPR7iMuFuxdFxK7Zw5LBCileBnTY7Bd5xx6Bwf03k/KOITEECgYBvlAvuj5r2uN6hQ5X3Dbp1uJw5E4cdi63YhU/nSBn2jBFhWQQG4LydX5146V7fFcOLaUb2zAR2hf4InZZ7Y/o3MjkAoQ5156mA7AzzhBmJ8dq2Ms7Xku/1+qN/uHqnmt5BzuJstKxfb6ZxyM29aRfFwnBki4kj49SCyoXbiortpQ==',
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDKys/xx4TUPlSCnBqPXPIWzpzFGaqlaVEuUCV1vaPBl/UE5mSY5z5fw2wXE50/laMlJloJX+RD2QbTzztubHKNezIi98Ibjb0PyxaiPPKxOdaJ9HuCz/ZxBsV6bdlB8gfZQP+tqc7NzT/dwhYlDOSx2TsRdNQHXpkmBYnmsOhexqrT2pD4EVVKEMeIiBeoX4cZHRNgbVaxctiaSDvsY4ywEfUzjg9HCp35IeDWD/uWIv2vjqBYzBvEBZnlYoqZrQTo03DWglKvIoNEAn0oNzEY5+8ngmmaTxmg9OvrJpxGa5gQOe6SrGDn9XJ8mtDShawGBJJCCOvdmkDHvzIYCJznAgMBAAECggEAGLKBh7saULT0muGDFJGnxCJOkmyRTUrZwa+uGDxLzMCCbSHX/40uGgCVUewoGv3Q3C3jCkA87wxn2fTjkouvmc52qS6OW8ezzlAYBhMxJWdbWvrE7gYAx/wgocvuCSt+TDWvzckf8A1+qTXBd6qt0YEYwgP97JXXRfuns0o5So1k5ez3CsharEn660dwyOv/+oRZFt1BFEr8jkI4UMtOieoi163NgjwAGFmK1RPESBtcbK6yOioPEx5E045FahBIiPtBHaFkUmxVqBng1rDWT0uD3GQY6FwEm2q+a8dZXjcJmjnXtYIFnwNjF0mYyjnQvQ8Xmhx6Ne2aPVsmtt76uQKBgQDtdBAIRoAs73VmPfoM5W0SfmKZodHCyX098k1uI0qbSBZWBgw3cFhq5GsLlNgaIJHcrWw5IMp9wMzVNj3prS0b2RbwFPkqNYCSOE4pbRaoYf/BcnBx5nh+aVU8Ld2m/Oxdx2gEKhr72091zVgEBmuXRK9XsNOMEDJKlFKROD59WQKBgQDaobEh2xs9BWm9FEYY/aZUpFcXIC6wENHcwM/zS7tKsY4xSBN0LtoGbCTbjbIrAmZntuaKJurqxsRXQLFKdQh2iDrO1Aa64jSVBuh/ZdH35TYtjMlPXNLOfWwFKxDzsobiGqamUd45aU92sGz1gU0xQdPWHtRW67z8JuciKhlkPwKBgBxwPw9OqkE3eJ8DIzRyMcr6OgLeX4ntqcNGhsF/FotcadhppwLowJ4ktzFO5UbTycRdPM3mwHmpIp8SfP3EkNd5+4ZLbMACYmCgv7O0bfdCrWfUteTeTmYNZXjsoVRDjGd631lIVaz+Shj4u+bXggE+56Uf92YZ9nv6IZ1k2A8ZAoGBAMcdsbwa2BDYKDgLCdhi0qSN0799EOhLOUaq1/lGBLp/QPhDI2yR6wEkZuEKiLTBB9D3c7lovlS6WED66zzbn6yMX7rUwZhcwfTkCMVWT0dNGu2bJhDAgkGLWuDOGy9Hba7pBNO/BfwVnEiFX4asj0gIIs0E4PCU3FZte93Sp7NzAoGAWxJZL/xYRjDP8lw5NDI4ZTq2D7cDwpzdBsJMXbMJHwoCONbe2OaBn8rOJaejpQXdvwsgAtW5qPx4msfbQO/3bXvxJ54nH+1rOp18T+eSVZ+XBU6nz+vMtkHugCOi4IEeSg2uuqQr7/FwvdD1/diaU8dRUhb3S9PW8MDL3y/tmqk=',
];

/** The pre-generated RSA keys, reused across webs (each at most once per web). */
export function rsaPool(): KeyObject[] {
  return RSA_POOL_PKCS8.map((b64) => createPrivateKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'pkcs8' }));
}

/** An Ed25519 private key from 32 seed bytes (PKCS#8 wrapping of RFC 8410). */
function ed25519From(seed: Buffer): KeyObject {
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' });
}

export const DOMAINS = ['example.org', 'example.net', 'other.org', 'sub.example.org', 'example.com'];

/** gpg's tsign scope for a domain. */
export function gpgDomainRegex(domain: string): string {
  return `<[^>]+[@.]${domain.replace(/[^A-Za-z0-9]/g, (c) => `\\${c}`)}>$`;
}

export interface GenCert {
  issuer: string;
  target: string;
  uid: number;
  type: number;
  created: number;
  hash: number;
  tsig?: [number, number];
  regex?: string;
  expiresAfter?: number;
  revocable: boolean;
  exportable: boolean;
}

export interface GenKey {
  name: string;
  fpr: string;
  created: number;
  rsa: boolean;
  /** `expiresAfter`: seconds after its self-signature at which the user ID expires. */
  uids: Array<{ text: string; revoked: boolean; expiresAfter?: number }>;
  revoked: boolean;
  expires?: number;
  ownertrust: number;
}

export interface GeneratedWeb {
  seed: number;
  now: number;
  bytes: Buffer;
  keys: GenKey[];
  certs: GenCert[];
  roots: string[];
  /** `gpg --import-ownertrust` input: FPR:N: lines (6 for roots). */
  ownertrustText: string;
  ownertrust: Map<string, number>;
  /** Trust parameters for this web (gpg.conf options of the same names). */
  params: { marginalsNeeded: number; completesNeeded: number; maxCertDepth: number };
}

interface Material {
  key: KeyPacket;
  priv: KeyObject;
}

const FIRST = ['Alice', 'Bob', 'Carol', 'Dave', 'Erin', 'Frank', 'Gina', 'Henry', 'Ivan', 'Judy', 'Ken', 'Lena', 'Mallory', 'Nina', 'Oscar', 'Peggy'];

export interface WebOptions {
  rsa?: KeyObject[];
  minKeys?: number;
  maxKeys?: number;
}

/** Builds the web for `seed`; the same seed always gives the same bytes. */
export function generateWeb(seed: number, opts: WebOptions = {}): GeneratedWeb {
  const rnd = rngFor(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const chance = (p: number) => rnd() < p;
  const minKeys = opts.minKeys ?? 20;
  const maxKeys = opts.maxKeys ?? 60;
  const n = int(minKeys, maxKeys);
  const pool = opts.rsa ?? [];
  const rsaSlots = new Set<number>();
  for (let i = 0; i < pool.length; i++) if (chance(0.5)) rsaSlots.add(int(0, n - 1));

  const keys: GenKey[] = [];
  const mats: Material[] = [];
  let rsaUsed = 0;
  for (let i = 0; i < n; i++) {
    const created = KEY_EPOCH + int(0, 300) * DAY + int(0, DAY - 1);
    const rsa = rsaSlots.has(i) && rsaUsed < pool.length;
    const priv = rsa ? pool[rsaUsed++] : ed25519From(Buffer.from(Array.from({ length: 32 }, () => int(0, 255))));
    const key = keyPacketFor(priv, created);
    mats.push({ key, priv });
    const first = `${pick(FIRST)} ${i}`;
    const nUids = 1 + (chance(0.35) ? 1 : 0) + (chance(0.1) ? 1 : 0);
    const uids: GenKey['uids'] = [];
    for (let u = 0; u < nUids; u++) {
      let domain = pick(DOMAINS);
      if (chance(0.1)) domain = domain.toUpperCase();
      const local = `${first.split(' ')[0].toLowerCase()}${i}u${u}`;
      const text = chance(0.05) ? `${local}@${domain}` : `${first} <${local}@${domain}>`;
      const selfTime = created + u * 60;
      uids.push({ text, revoked: u > 0 && chance(0.1), expiresAfter: chance(0.05) ? WEB_NOW - selfTime - int(1, 100) * DAY : undefined });
    }
    const r = rnd();
    keys.push({
      name: `k${i}`,
      fpr: key.fpr,
      created,
      rsa,
      uids,
      revoked: r < 0.05,
      expires: r >= 0.05 && r < 0.1 ? WEB_NOW - int(1, 300) * DAY : r >= 0.1 && r < 0.14 ? WEB_NOW + int(1, 300) * DAY : undefined,
      ownertrust: 0,
    });
  }

  // Roots and ownertrust.
  const roots = new Set<number>([int(0, n - 1)]);
  if (chance(0.4)) roots.add(int(0, n - 1));
  for (let i = 0; i < n; i++) {
    if (roots.has(i)) keys[i].ownertrust = 6;
    else {
      const r = rnd();
      keys[i].ownertrust = r < 0.25 ? 5 : r < 0.5 ? 4 : r < 0.6 ? 3 : r < 0.63 ? 2 : 0;
    }
  }

  // Certifications: a few issuers per key, biased toward roots so the web is reachable.
  const certs: GenCert[] = [];
  const rootList = [...roots];
  for (let j = 0; j < n; j++) {
    const count = int(0, 5);
    for (let c = 0; c < count; c++) {
      const fromRoot = chance(0.2);
      const i = fromRoot ? pick(rootList) : int(0, n - 1);
      if (i === j) continue;
      const base = Math.max(keys[i].created, keys[j].created);
      const cert = randomCert(keys[i].fpr, keys[j].fpr, int(0, keys[j].uids.length - 1), base, keys[j].created);
      if (fromRoot && chance(0.5)) {
        // Roots start delegation chains: deeper trust signatures, often scoped.
        cert.tsig = [pick([1, 2, 2, 3, 255]), pick([60, 120, 120])];
        cert.regex = chance(0.6) ? gpgDomainRegex(pick(DOMAINS)) : undefined;
      }
      certs.push(cert);
      if (chance(0.1)) {
        // A second signature by the same issuer: newer or older, maybe a revocation.
        const second = randomCert(keys[i].fpr, keys[j].fpr, cert.uid, base, keys[j].created);
        if (chance(0.4)) second.type = 0x30;
        certs.push(second);
      }
    }
  }

  // Scoped delegation chains (root → K → L → M…), where GnuPG and our stricter rules part:
  // the root scopes K to L's domain, K delegates to L without a scope, L certifies others.
  const chains = chance(0.7) ? int(1, 3) : 0;
  for (let c = 0; c < chains && n >= 6; c++) {
    const root = pick(rootList);
    const [k, l] = [int(0, n - 1), int(0, n - 1)];
    if (new Set([root, k, l]).size < 3) continue;
    const lUid = int(0, keys[l].uids.length - 1);
    const lDomain = keys[l].uids[lUid].text.replace(/^.*@/, '').replace(/>$/, '').toLowerCase();
    const scope = gpgDomainRegex(chance(0.8) ? lDomain : pick(DOMAINS));
    const links: GenCert[] = [
      { ...randomCert(keys[root].fpr, keys[k].fpr, 0, Math.max(keys[root].created, keys[k].created), keys[k].created), tsig: [pick([2, 3, 255]), 120], regex: scope },
      { ...randomCert(keys[k].fpr, keys[l].fpr, lUid, Math.max(keys[k].created, keys[l].created), keys[l].created), tsig: [pick([1, 2]), pick([60, 120, 120])], regex: undefined },
    ];
    for (let m = int(1, 3); m > 0; m--) {
      const t = int(0, n - 1);
      if (t === l) continue;
      links.push(randomCert(keys[l].fpr, keys[t].fpr, int(0, keys[t].uids.length - 1), Math.max(keys[l].created, keys[t].created), keys[t].created));
    }
    certs.push(...links);
  }

  function randomCert(issuer: string, target: string, uid: number, base: number, targetCreated: number): GenCert {
    const r = rnd();
    const type = r < 0.6 ? 0x10 : r < 0.8 ? 0x13 : r < 0.9 ? 0x12 : 0x11;
    let created = base + DAY + Math.floor(rnd() * (WEB_NOW - base - 2 * DAY));
    // Older than the certified key: gpg's time conflict (it checks the target key only,
    // sig-check.c; our evaluation also rejects certifications older than their issuer).
    if (chance(0.02)) created = targetCreated - DAY;
    if (chance(0.01)) created = WEB_NOW + DAY; // from the future
    const sha1 = chance(0.15);
    if (sha1 && chance(0.5)) created = Math.min(created, SHA1_CUTOFF - int(1, 200) * DAY);
    const cert: GenCert = {
      issuer,
      target,
      uid,
      type,
      created,
      hash: sha1 ? 2 : chance(0.2) ? 10 : 8,
      revocable: !chance(0.06),
      exportable: !chance(0.06),
    };
    if (chance(0.3)) {
      cert.tsig = [pick([0, 1, 1, 1, 2, 2, 3, 255]), pick([0, 40, 60, 60, 90, 120, 120, 120, 200])];
      const rr = rnd();
      if (rr < 0.45) cert.regex = gpgDomainRegex(pick(DOMAINS));
      else if (rr < 0.5) cert.regex = pick(['example.org', 'EXAMPLE\\.ORG', '<[^>]+[@.]example\\.(org|net)>$', 'other.org>$', 'example\\']);
    }
    const e = rnd();
    if (e < 0.08) cert.expiresAfter = Math.max(1, WEB_NOW - created - int(1, 100) * DAY);
    else if (e < 0.13) cert.expiresAfter = WEB_NOW - created + int(1, 100) * DAY;
    return cert;
  }

  const bytes = serializeWeb(keys, mats, certs);

  const ownertrust = new Map<string, number>();
  for (const k of keys) if (k.ownertrust > 0) ownertrust.set(k.fpr, k.ownertrust);
  const ownertrustText = [...ownertrust].map(([f, v]) => `${f}:${v}:\n`).join('');
  // Most webs use gpg's defaults; some vary them.
  const params = chance(0.7)
    ? { marginalsNeeded: 3, completesNeeded: 1, maxCertDepth: 5 }
    : { marginalsNeeded: int(2, 4), completesNeeded: int(1, 3), maxCertDepth: int(1, 6) };
  return { seed, now: WEB_NOW, bytes, keys, certs, roots: rootList.map((i) => keys[i].fpr), ownertrustText, ownertrust, params };
}

/** Primary, key revocation, then per user ID its self-signature, revocation and third-party signatures. */
function serializeWeb(keys: GenKey[], mats: Material[], certs: GenCert[]): Buffer {
  const parts: Buffer[] = [];
  const index = new Map(keys.map((k, i) => [k.fpr, i]));
  keys.forEach((k, i) => {
    const m = mats[i];
    parts.push(m.key.packet.raw);
    if (k.revoked) {
      const rev = signV4({ kind: 'key', primary: m.key }, { type: 0x20, signer: m.key, privateKey: m.priv, hashed: [sp.created(k.created + 400 * DAY), sp.reason(0, 'gone'), sp.issuerFingerprint(m.key)] });
      parts.push(rev.packet.raw);
    }
    k.uids.forEach((u, ui) => {
      const upkt = userIdPacket(u.text);
      parts.push(upkt.raw);
      const target = { kind: 'user' as const, primary: m.key, user: upkt };
      const selfTime = k.created + ui * 60;
      const hashed = [sp.created(selfTime), sp.keyFlags(0x03), sp.issuerFingerprint(m.key)];
      if (k.expires !== undefined) hashed.push(sp.keyExpiresAfter(k.expires - k.created));
      if (u.expiresAfter !== undefined) hashed.push(sp.expiresAfter(u.expiresAfter));
      parts.push(signV4(target, { type: 0x13, signer: m.key, privateKey: m.priv, hashed }).packet.raw);
      if (u.revoked) {
        parts.push(signV4(target, { type: 0x30, signer: m.key, privateKey: m.priv, hashed: [sp.created(selfTime + 200 * DAY), sp.reason(32, 'no longer used'), sp.issuerFingerprint(m.key)] }).packet.raw);
      }
      for (const c of certs) {
        if (c.target !== k.fpr || c.uid !== ui) continue;
        const issuer = mats[index.get(c.issuer)!];
        const h = [sp.created(c.created)];
        if (c.expiresAfter !== undefined) h.push(sp.expiresAfter(c.expiresAfter));
        if (!c.exportable) h.push(sp.exportable(false));
        if (c.tsig) h.push(sp.trust(c.tsig[0], c.tsig[1]));
        if (c.regex !== undefined) h.push(sp.regex(c.regex));
        if (!c.revocable) h.push(sp.revocable(false));
        h.push(sp.issuerFingerprint(issuer.key));
        parts.push(signV4(target, { type: c.type, signer: issuer.key, privateKey: issuer.priv, hashed: h, hashAlgorithm: c.hash }).packet.raw);
      }
    });
  });
  return Buffer.concat(parts);
}

/** A web described by hand: named keys and certifications, as real packets. */
export interface WebSpec {
  keys: Array<{ name: string; uids: string[]; ownertrust?: number }>;
  certs: Array<{ issuer: string; target: string; uid?: number; tsig?: [number, number]; regex?: string; created?: number; type?: number; exportable?: boolean; expiresAfter?: number }>;
}

/** Builds a hand-described web (deterministic keys from the names), certified in 2022. */
export function buildWeb(spec: WebSpec): GeneratedWeb {
  const created = 1640995200; // 2022-01-01
  const keys: GenKey[] = [];
  const mats: Material[] = [];
  for (const k of spec.keys) {
    const priv = ed25519From(createHash('sha256').update(`webgen:${k.name}`).digest());
    const key = keyPacketFor(priv, created);
    mats.push({ key, priv });
    keys.push({ name: k.name, fpr: key.fpr, created, rsa: false, uids: k.uids.map((text) => ({ text, revoked: false })), revoked: false, ownertrust: k.ownertrust ?? 0 });
  }
  const fpr = (name: string) => keys.find((k) => k.name === name)?.fpr ?? '';
  const certs: GenCert[] = spec.certs.map((c) => ({
    issuer: fpr(c.issuer),
    target: fpr(c.target),
    uid: c.uid ?? 0,
    type: c.type ?? 0x10,
    created: c.created ?? created + 30 * DAY,
    hash: 8,
    tsig: c.tsig,
    regex: c.regex,
    expiresAfter: c.expiresAfter,
    revocable: true,
    exportable: c.exportable ?? true,
  }));
  const ownertrust = new Map<string, number>();
  for (const k of keys) if (k.ownertrust > 0) ownertrust.set(k.fpr, k.ownertrust);
  return {
    seed: 0,
    now: WEB_NOW,
    bytes: serializeWeb(keys, mats, certs),
    keys,
    certs,
    roots: keys.filter((k) => k.ownertrust === 6).map((k) => k.fpr),
    ownertrustText: [...ownertrust].map(([f, v]) => `${f}:${v}:\n`).join(''),
    ownertrust,
    params: { marginalsNeeded: 3, completesNeeded: 1, maxCertDepth: 5 },
  };
}

const OT = ['-', 'e', 'q', 'n', 'm', 'f', 'u'];
const date = (t: number) => new Date(t * 1000).toISOString().slice(0, 10);

function certLine(web: GeneratedWeb, c: GenCert): string {
  const name = (f: string) => web.keys.find((k) => k.fpr === f)?.name ?? f;
  const bits = [`${name(c.issuer)} -> ${name(c.target)}[uid ${c.uid}]`, `0x${c.type.toString(16)}`, date(c.created)];
  if (c.tsig) bits.push(`tsig ${c.tsig[0]}/${c.tsig[1]}`);
  if (c.regex !== undefined) bits.push(`regex ${JSON.stringify(c.regex)}`);
  if (c.hash === 2) bits.push('sha1');
  if (c.expiresAfter !== undefined) bits.push(`expires ${date(c.created + c.expiresAfter)}`);
  if (!c.revocable) bits.push('non-revocable');
  if (!c.exportable) bits.push('local');
  return bits.join(' ');
}

function keyLine(k: GenKey): string {
  const flags = [k.revoked ? 'revoked' : '', k.expires !== undefined ? `expires ${date(k.expires)}` : '', k.rsa ? 'rsa' : ''].filter(Boolean);
  const uids = k.uids.map((u, i) => `[${i}] ${JSON.stringify(u.text)}${u.revoked ? ' revoked' : ''}${u.expiresAfter !== undefined ? ' expired' : ''}`).join(', ');
  return `${k.name} ${k.fpr} ownertrust ${OT[k.ownertrust]}${flags.length ? ` (${flags.join(', ')})` : ''}: ${uids}`;
}

/**
 * The part of the web that can matter for one key: the key and its ancestors (every
 * key that certified it, transitively), with their certifications.
 */
export function describeAround(web: GeneratedWeb, fpr: string): string {
  const wanted = new Set<string>([fpr]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const c of web.certs) {
      if (wanted.has(c.target) && !wanted.has(c.issuer)) {
        wanted.add(c.issuer);
        grew = true;
      }
    }
  }
  const p = web.params;
  const lines = [
    `seed ${web.seed}, ${web.keys.length} keys, roots ${web.roots.map((r) => web.keys.find((k) => k.fpr === r)?.name).join(' ')}; marginals-needed ${p.marginalsNeeded}, completes-needed ${p.completesNeeded}, max-cert-depth ${p.maxCertDepth}`,
  ];
  for (const k of web.keys) if (wanted.has(k.fpr)) lines.push(`  key ${keyLine(k)}`);
  for (const c of web.certs) if (wanted.has(c.target)) lines.push(`  cert ${certLine(web, c)}`);
  return lines.join('\n');
}
