/**
 * A TLS server's X.509 certificate, for `import-key --certificate`: its key must be the key
 * being imported, and its notBefore becomes the OpenPGP key's creation time, so that the
 * OpenPGP fingerprint can be made again from the same certificate and key (the fingerprint
 * hashes the creation time). PEM (the first certificate of a chain, as certbot's
 * fullchain.pem) or DER.
 */
import { type KeyObject, X509Certificate } from 'node:crypto';
import { errorMessage, InputError, UsageError } from '../errors.js';
import { sshBlobFromKeyObject } from '../ssh/index.js';

/** The parsed certificate. @throws InputError (MS_HOST_X509) when `data` holds no certificate. */
export function readX509(data: Buffer, source: string): X509Certificate {
  const text = data.toString('latin1');
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text);
  try {
    return new X509Certificate(pem ? Buffer.from(pem[0], 'latin1') : data);
  } catch (err) {
    throw new InputError('MS_HOST_X509', `${source} is not an X.509 certificate: ${errorMessage(err)}`, {
      cause: err,
      hints: ['give the PEM or DER certificate the TLS server presents (certbot: cert.pem or fullchain.pem)'],
    });
  }
}

/** The certificate's notBefore, in Unix seconds. */
export function notBefore(cert: X509Certificate): number {
  return Math.floor(Date.parse(cert.validFrom) / 1000);
}

/**
 * Checks that the certificate carries the public key of `publicKey`.
 * @throws UsageError (MS_HOST_X509_MISMATCH) when it carries another key.
 */
export function checkSameKey(cert: X509Certificate, publicKey: KeyObject, source: string): void {
  let same = false;
  try {
    same = sshBlobFromKeyObject(cert.publicKey).equals(sshBlobFromKeyObject(publicKey));
  } catch {
    // A certificate key with no SSH form (DSA, another curve) cannot be the imported key.
    same = false;
  }
  if (!same) {
    throw new UsageError('MS_HOST_X509_MISMATCH', `the certificate ${source} is not for this key`, {
      hints: ["check with: openssl x509 -noout -pubkey -in CERT; openssl pkey -pubout -in KEY (they must be equal)"],
    });
  }
}
