/**
 * What a malicious or flooded keyserver serves, for the ingest tests and bench/auth-flood:
 * junk certifications by issuers nobody knows (CVE-2019-13050, as the 2019 SKS floods:
 * well-formed v4 signature packets whose issuers and values are random, so nobody can
 * check them), certifications made non-exportable, and an HKP stand-in on loopback that
 * answers `op=index` and `op=get` for the certificates it is given.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { armor } from '../../src/openpgp/armor.js';
import { signV4, sp } from '../../src/openpgp/build.js';
import { type Cert, readCerts } from '../../src/openpgp/cert.js';
import { SigType } from '../../src/openpgp/signature.js';
import { u16, u32 } from '../../src/util/bytes.js';

export interface Signer {
  primary: Cert['primary'];
  privateKey: import('node:crypto').KeyObject;
}

/**
 * `count` junk certifications (class 0x10, EdDSA, SHA-256), each by a random issuer
 * fingerprint (hashed; no unhashed area), dated one second apart going back from `newest`:
 * 109 bytes each, so 100,000 on one certificate still fit a 16 MiB keyserver answer armored.
 */
export function junkCertifications(count: number, newest: number): Buffer[] {
  const rnd = randomBytes(count * 86);
  const out: Buffer[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const r = rnd.subarray(i * 86, (i + 1) * 86);
    const fpr = r.subarray(0, 20);
    const hashed = Buffer.concat([Buffer.from([5, 2]), u32(newest - i), Buffer.from([22, 33, 4]), fpr]);
    // Values with their top bit set, so each MPI is exactly 256 bits as declared.
    r[22] |= 0x80;
    r[54] |= 0x80;
    const body = Buffer.concat([
      Buffer.from([4, 0x10, 22, 8]),
      u16(hashed.length),
      hashed,
      u16(0),
      r.subarray(20, 22),
      Buffer.from([0x01, 0x00]),
      r.subarray(22, 54),
      Buffer.from([0x01, 0x00]),
      r.subarray(54, 86),
    ]);
    // New-format header with a one-octet length (the body is 107 bytes).
    out[i] = Buffer.concat([Buffer.from([0xc2, body.length]), body]);
  }
  return out;
}

/** The certificate's bytes with `sigs` inserted after the last signature on `userId`. */
export function withSignatures(cert: Cert, userId: string, sigs: Buffer[]): Buffer {
  const user = cert.users.find((u) => u.text === userId);
  if (!user) throw new Error(`no user ID ${userId}`);
  const after = (user.signatures[user.signatures.length - 1]?.packet ?? user.packet).raw;
  const out: Buffer[] = [];
  for (const p of cert.packets) {
    out.push(p.raw);
    if (p.raw === after) for (const sig of sigs) out.push(sig);
  }
  return Buffer.concat(out);
}

/** `cert` flooded with `count` junk certifications on `userId`, all newer than `newest - count`. */
export function flooded(cert: Cert, userId: string, count: number, newest: number): Buffer {
  return withSignatures(cert, userId, junkCertifications(count, newest));
}

/** A certification (0x10) of `cert`'s `userId` by `signer`, exportable or not (gpg's lsign makes the latter). */
export function certification(cert: Cert, userId: string, signer: Signer, created: number, exportable: boolean): Buffer {
  const user = cert.users.find((u) => u.text === userId);
  if (!user) throw new Error(`no user ID ${userId}`);
  const hashed = [sp.created(created), sp.issuerFingerprint(signer.primary)];
  if (!exportable) hashed.push(sp.exportable(false));
  return signV4({ kind: 'user', primary: cert.primary, user: user.packet }, { type: SigType.GenericCert, signer: signer.primary, privateKey: signer.privateKey, hashed }).packet.raw;
}

/** %-escapes every byte outside printable ASCII, and `%` and `:`, as SKS's mr index does. */
function colonEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += b < 0x20 || b > 0x7e || b === 0x25 || b === 0x3a ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  return out;
}

/**
 * An HKP keyserver on loopback serving fixed certificates: `op=index&options=mr` lists those
 * with a user ID equal to the search, `op=get` returns one armored (or 404). Swap what it
 * serves with `serve`; `requests` records what was asked.
 */
export class HkpStandIn {
  requests: string[] = [];
  private byFpr = new Map<string, string>();
  private index: Array<{ cert: Cert; uids: string[] }> = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<HkpStandIn> {
    let self: HkpStandIn | undefined;
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      self!.requests.push(`${url.searchParams.get('op')} ${url.searchParams.get('search')}`);
      const op = url.searchParams.get('op');
      const search = url.searchParams.get('search') ?? '';
      if (url.pathname !== '/pks/lookup') return res.writeHead(404).end();
      if (op === 'index') {
        const hits = self!.index.filter((e) => e.uids.includes(search));
        if (hits.length === 0) return res.writeHead(404).end('No keys found');
        let text = `info:1:${hits.length}\n`;
        for (const h of hits) {
          const p = h.cert.primary;
          text += `pub:${p.fpr}:${p.algorithm}:${p.bits ?? 0}:${p.created}::\n`;
          for (const u of h.uids) text += `uid:${colonEscape(u)}:${p.created}::\n`;
        }
        return res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
      }
      if (op === 'get') {
        const id = search.replace(/^0x/i, '').toUpperCase();
        const body = self!.byFpr.get(id);
        if (!body) return res.writeHead(404).end('No keys found');
        return res.writeHead(200, { 'content-type': 'application/pgp-keys' }).end(body);
      }
      res.writeHead(501).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new HkpStandIn(server, (server.address() as AddressInfo).port);
    return self;
  }

  get url(): string {
    return `hkp://127.0.0.1:${this.port}`;
  }

  /** Serves these certificates (binary, one certificate each) from now on, instead of the previous ones. */
  serve(certs: Buffer[]): void {
    this.byFpr = new Map();
    this.index = [];
    for (const bytes of certs) {
      const { certs: read } = readCerts(bytes);
      if (read.length !== 1) throw new Error('serve() takes one certificate per buffer');
      const cert = read[0];
      this.byFpr.set(cert.primary.fpr, armor('PUBLIC KEY BLOCK', bytes));
      this.index.push({ cert, uids: cert.users.filter((u) => u.kind === 'userid').map((u) => u.text) });
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
