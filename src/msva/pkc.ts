/**
 * The public key a request's carrier holds (behaviour inventory §6, "Matching"): an X.509
 * certificate (DER bytes or the first PEM block), an OpenSSH public key line, an RFC 4716
 * public key, or an OpenPGP v4 fingerprint. Keys come out in SSH wire form, which the
 * user ID index (src/user/home-keys.ts) lists for every key: RSA, Ed25519 and ECDSA on
 * the NIST curves, where msva-perl knew RSA only. An X.509 certificate carrying the PGP
 * extension (OID 1.3.6.1.4.1.3401.8.1.1: version 0 and the key's creation time) also names
 * the OpenPGP fingerprint of its key, as msva-perl computes it (for RSA, and here for the
 * other algorithms as pem2openpgp writes them). Pure: no trust, no I/O.
 */
import { X509Certificate } from 'node:crypto';
import { errorMessage, MsError } from '../errors.js';
import { keyPacketFor } from '../openpgp/build.js';
import { jwkFromSshBlob, sshBlobFromKeyObject, sshKeyDescription } from '../ssh/public-key.js';
import { derContent, derElements, derSequenceItems, type DerElement } from '../util/der.js';
import { type Pkc, RequestError } from './request.js';

/** OID 1.3.6.1.4.1.3401.8.1.1, DER-encoded: the PGP extension (draft by dkg, 2009). */
const PGP_EXTENSION_OID = Buffer.from('2b060104019a49080101', 'hex');

/** The key of a carrier, or why it cannot be checked (an answer, not an error). */
export type ExtractedKey =
  | {
      /** SSH wire blob of the key. */
      blob: Buffer;
      /** The OpenPGP fingerprint the PGP extension names, uppercase hex. */
      fpr?: string;
      /** e.g. "RSA 3072", "ED25519 256". */
      description: string;
    }
  | { fpr: string; blob?: undefined; description: string }
  | { refused: string };

function unparseable(what: string, err: unknown): RequestError {
  return new RequestError('MS_MSVA_PKC', 422, `${what}: ${errorMessage(err)}`);
}

/** The DER of the first `-----BEGIN CERTIFICATE-----` block, line by line as msva-perl reads it. */
export function pemToDer(pem: string): Buffer {
  const body: string[] = [];
  let inside = false;
  for (const line of pem.split(/\r?\n/)) {
    if (line === '-----END CERTIFICATE-----') break;
    if (inside) body.push(line);
    else if (line === '-----BEGIN CERTIFICATE-----') inside = true;
  }
  if (!inside) throw new RequestError('MS_MSVA_PKC', 422, 'Error decoding X.509 certificate: no "-----BEGIN CERTIFICATE-----" line');
  return Buffer.from(body.join(''), 'base64');
}

/** Unix time of an ASN.1 UTCTime (0x17) or GeneralizedTime (0x18) in DER's Z form. */
function asn1Time(e: DerElement): number {
  const s = e.content.toString('latin1');
  const m = e.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : e.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : null;
  if (!m) throw new Error(`not a DER time: ${JSON.stringify(s)}`);
  let year = Number(m[1]);
  if (e.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
}

/**
 * The key creation time the certificate's PGP extension gives, if it has one (of version 0).
 * @throws Error for a certificate whose extensions, or whose PGP extension, do not parse.
 */
export function pgpExtensionTime(der: Buffer): number | undefined {
  const [tbs] = derSequenceItems(der, 'Certificate');
  const fields = derElements(derContent(tbs, 0x30, 'TBSCertificate'));
  const wrapped = fields.find((f) => f.tag === 0xa3);
  if (!wrapped) return undefined;
  const [extensions] = derElements(wrapped.content);
  for (const ext of derElements(derContent(extensions, 0x30, 'Extensions'))) {
    const items = derElements(derContent(ext, 0x30, 'Extension'));
    if (!derContent(items[0], 0x06, 'extnID').equals(PGP_EXTENSION_OID)) continue;
    const value = derContent(items[items.length - 1], 0x04, 'extnValue');
    const [version, created] = derSequenceItems(value, 'PGPExtension');
    const v = derContent(version, 0x02, 'PGPExtension version');
    // Only version 0 (v1) exists; another is ignored, as msva-perl (Crypt::X509) ignores it.
    if (!(v.length === 1 && v[0] === 0)) return undefined;
    if (!created) throw new Error('PGPExtension has no keyCreation');
    return asn1Time(created);
  }
  return undefined;
}

/** msva-perl's size floor: `log2(n) < 1000` is refused. */
const MIN_RSA_LOG2 = 1000;

function fromBlob(blob: Buffer): ExtractedKey {
  const { bits, label } = sshKeyDescription(blob);
  if (label === 'RSA' && bits - 1 < MIN_RSA_LOG2) return { refused: `Public key size is less than 1000 bits (was: ${bits - 1} bits)` };
  return { blob, description: `${label} ${bits}` };
}

function x509Key(der: Buffer): ExtractedKey {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (err) {
    throw unparseable('Error decoding X.509 certificate', err);
  }
  let blob: Buffer;
  try {
    blob = sshBlobFromKeyObject(cert.publicKey);
  } catch (err) {
    if (!(err instanceof MsError)) throw err;
    return { refused: `The certificate's public key cannot be checked: ${err.message} (supported: RSA, Ed25519, ECDSA on NIST P-256, P-384 and P-521).` };
  }
  const key = fromBlob(blob);
  if ('refused' in key) return key;
  let created: number | undefined;
  try {
    created = pgpExtensionTime(der);
  } catch (err) {
    throw unparseable('Error decoding X.509 certificate', err);
  }
  if (created !== undefined) return { ...key, fpr: keyPacketFor(cert.publicKey, created).fpr };
  return key;
}

/** msva-perl's reading of an SSH key body: base64, then the wire strings. */
function sshBody(b64: string | undefined, what: string): ExtractedKey {
  if (!b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new RequestError('MS_MSVA_PKC', 422, `${what}: no base64 key body`);
  const blob = Buffer.from(b64, 'base64');
  try {
    jwkFromSshBlob(blob);
  } catch (err) {
    if (err instanceof MsError && err.code !== 'MS_SSH_MALFORMED') return { refused: `${what}: ${err.message}` };
    throw unparseable(what, err);
  }
  return fromBlob(blob);
}

/** RFC 4716 §3: the body between the BEGIN/END lines, after the headers (with `\` continuations). */
function rfc4716Body(text: string): string {
  const body: string[] = [];
  let continuation = '';
  let state: 'outside' | 'header' | 'body' = 'outside';
  for (const raw of text.split('\n')) {
    let line = raw.replace(/\r$/, '');
    if (state === 'body' && line === '---- END SSH2 PUBLIC KEY ----') break;
    if (state === 'outside') {
      if (line === '---- BEGIN SSH2 PUBLIC KEY ----') state = 'header';
      continue;
    }
    if (state === 'header') {
      line = continuation + line;
      continuation = '';
      if (line.endsWith('\\')) {
        continuation = line.slice(0, -1);
        continue;
      }
      if (!line.includes(':')) state = 'body';
    }
    if (state === 'body') body.push(line.trim());
  }
  return body.join('');
}

/**
 * The key a carrier holds.
 * @throws RequestError (MS_MSVA_PKC, status 422) when the carrier does not parse.
 */
export function extractKey(pkc: Pkc): ExtractedKey {
  switch (pkc.type) {
    case 'openpgp4fpr':
      return { fpr: pkc.data, description: `OpenPGP fingerprint ${pkc.data}` };
    case 'x509der':
      return x509Key(pkc.data);
    case 'x509pem':
      return x509Key(pemToDer(pkc.data));
    case 'opensshpubkey':
      return sshBody(pkc.data.trim().split(/ +/)[1], 'OpenSSH public key');
    case 'rfc4716':
      return sshBody(rfc4716Body(pkc.data), 'RFC 4716 public key');
  }
}
