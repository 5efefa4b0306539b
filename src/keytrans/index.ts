/** Key translation between OpenPGP and SSH/PEM, and the certificate edits of the keytrans verbs. */
export * from './certify.js';
export * from './export.js';
export * from './pem2openpgp.js';
export * from './secret-key.js';
export * from './select.js';
export * from './userid.js';
export * from './passphrase.js';
export * from './key-ref.js';
