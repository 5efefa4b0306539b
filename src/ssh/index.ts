/** SSH keys: reading private and public keys, writing key lines and OpenSSH private keys, OpenPGP → SSH. */
export * from './openpgp.js';
export * from './openssh-private.js';
export * from './private-key.js';
export * from './public-key.js';
export * from './wire.js';
