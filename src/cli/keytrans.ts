/**
 * keytrans: the key translators and the hidden verbs of the original, in one command.
 * `keytrans VERB ARGS…`, or invoked under a translator's name (argv[0] dispatch, as
 * the original's symlinks): pem2openpgp, openpgp2ssh, openpgp2pem, openpgp2spki.
 * Verbs: pem2openpgp UID; openpgp2ssh|openpgp2pem|openpgp2spki [KEYID]; adduserid FPR UID;
 * revokeuserid FPR UID; listfprs; sshfpr; openpgp2sshfpr FPR.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { EnvironmentError, UsageError } from '../errors.js';
import { askPassphraseOnTty } from '../host/prompt.js';
import {
  addUserId,
  generateKey,
  loadSecretCert,
  normalizeKeyId,
  pem2openpgp,
  pem2openpgpEnv,
  readKeyPackets,
  revokeUserId,
  selectKey,
  toPem,
  toSpki,
  toSsh,
  toSshFingerprint,
} from '../keytrans/index.js';
import { readCerts } from '../openpgp/cert.js';
import { dearmor } from '../openpgp/armor.js';
import { type LoadedPrivateKey, PassphraseRequiredError, parsePrivateKey, parsePublicKeyLine, sshFingerprint } from '../ssh/index.js';
import { type Io, processIo, readAll } from './io.js';
import { runCommand } from './run.js';

export const TRANSLATORS = ['pem2openpgp', 'openpgp2ssh', 'openpgp2pem', 'openpgp2spki'] as const;
const VERBS = [...TRANSLATORS, 'adduserid', 'revokeuserid', 'listfprs', 'sshfpr', 'openpgp2sshfpr'] as const;
type Verb = (typeof VERBS)[number];

/** Reads a passphrase file: its first line, without the newline. @throws EnvironmentError */
export function readPassphraseFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/)[0];
  } catch (err) {
    throw new EnvironmentError('MS_PASSPHRASE_FILE', `cannot read passphrase file ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err });
  }
}

export interface PassphraseSources {
  /** --passphrase-file */
  file?: string;
  /** Environment variable naming a passphrase file (e.g. PEM2OPENPGP_PASSPHRASE_FILE). */
  envFile?: string;
  /** Whether asking on the terminal is allowed (interactive use, PROMPT not false). */
  interactive: boolean;
}

/**
 * Parses a private key, finding its passphrase if it needs one: a passphrase file from
 * the option, then from the environment, then a question on the terminal.
 * @throws PassphraseRequiredError when it is encrypted and no passphrase could be had.
 */
export async function loadPrivateKeyWithPassphrase(data: Buffer, source: string, from: PassphraseSources): Promise<LoadedPrivateKey> {
  const file = from.file ?? from.envFile;
  if (file !== undefined) return parsePrivateKey(data, { source, passphrase: readPassphraseFile(file) });
  try {
    return parsePrivateKey(data, { source });
  } catch (err) {
    if (!(err instanceof PassphraseRequiredError) || !from.interactive) throw err;
    const passphrase = await askPassphraseOnTty(`Enter passphrase for ${source}: `);
    if (passphrase === undefined) throw err;
    return parsePrivateKey(data, { source, passphrase });
  }
}

function program(name: string, io: Io): Command {
  return new Command(name)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .allowExcessArguments(false);
}

function keyIdArg(arg: string | undefined): string | undefined {
  return arg === undefined ? undefined : normalizeKeyId(arg);
}

async function runVerb(verb: Verb, args: string[], io: Io, tool: string): Promise<number> {
  const note = (n: string) => io.stderr.write(`${tool}: ${n}\n`);
  const now = () => Math.floor(Date.now() / 1000);
  switch (verb) {
    case 'pem2openpgp': {
      const cmd = program(tool, io)
        .description('Turn a private key on stdin (PEM, PKCS#8, SEC1 or OpenSSH format) into an OpenPGP secret key on stdout.')
        .argument('<uid>', 'the user ID, e.g. ssh://host.example.org')
        .addOption(new Option('--passphrase-file <file>', 'read the key passphrase from the first line of FILE (also: PEM2OPENPGP_PASSPHRASE_FILE)'));
      cmd.parse(args, { from: 'user' });
      const uid = cmd.args[0];
      const opts = cmd.opts<{ passphraseFile?: string }>();
      const env = pem2openpgpEnv(io.env);
      let privateKey: LoadedPrivateKey['privateKey'];
      if (env.newKey) privateKey = generateKey(env.newKey);
      else {
        const data = await readAll(io.stdin);
        const loaded = await loadPrivateKeyWithPassphrase(data, 'standard input', {
          file: opts.passphraseFile,
          envFile: io.env.PEM2OPENPGP_PASSPHRASE_FILE || undefined,
          interactive: Boolean(io.stderr.isTTY),
        });
        privateKey = loaded.privateKey;
      }
      const sigTime = env.sigTime ?? now();
      const out = pem2openpgp(privateKey, { userId: uid, sigTime, keyTime: env.keyTime, flags: env.flags, expiration: env.expiration });
      io.stdout.write(out.bytes);
      return 0;
    }
    case 'openpgp2ssh':
    case 'openpgp2pem':
    case 'openpgp2spki': {
      const cmd = program(tool, io)
        .description(`Write the key matching KEYID from OpenPGP packets on stdin ${verb === 'openpgp2ssh' ? 'in OpenSSH form' : verb === 'openpgp2pem' ? 'as PEM' : 'as an SPKI PEM public key'}.`)
        .argument('[keyid]', 'key ID or fingerprint suffix (0x optional); required when the input holds several keys');
      cmd.parse(args, { from: 'user' });
      const keyId = keyIdArg(cmd.args[0]);
      const { keys, notes } = readKeyPackets(await readAll(io.stdin));
      let key: ReturnType<typeof selectKey>;
      try {
        key = selectKey(keys, keyId, notes);
      } finally {
        for (const n of notes) note(n);
      }
      io.stdout.write(verb === 'openpgp2ssh' ? toSsh(key) : verb === 'openpgp2pem' ? toPem(key) : toSpki(key));
      return 0;
    }
    case 'adduserid':
    case 'revokeuserid': {
      const cmd = program(tool, io)
        .name(`${tool} ${verb}`)
        .argument('<fpr>', 'fingerprint (suffix) of the secret key on stdin')
        .argument('<uid>', 'the user ID');
      cmd.parse(args, { from: 'user' });
      const [fpr, uid] = cmd.args;
      const sc = loadSecretCert(await readAll(io.stdin), normalizeKeyId(fpr));
      const env = pem2openpgpEnv(io.env);
      const created = env.sigTime ?? now();
      const out =
        verb === 'adduserid'
          ? addUserId(sc, uid, { created, flags: env.flags, keyExpiresAfter: env.expiration })
          : revokeUserId(sc, uid, { created });
      io.stdout.write(out);
      return 0;
    }
    case 'listfprs': {
      program(tool, io).name(`${tool} listfprs`).parse(args, { from: 'user' });
      const { certs } = readCerts(dearmor(await readAll(io.stdin)));
      for (const c of certs) io.stdout.write(`${c.primary.fpr}\n`);
      return 0;
    }
    case 'sshfpr': {
      program(tool, io).name(`${tool} sshfpr`).parse(args, { from: 'user' });
      const text = (await readAll(io.stdin)).toString('utf8');
      for (const line of text.split('\n')) {
        if (line.trim() === '' || line.trim().startsWith('#')) continue;
        io.stdout.write(`${sshFingerprint(parsePublicKeyLine(line).blob)}\n`);
      }
      return 0;
    }
    case 'openpgp2sshfpr': {
      const cmd = program(tool, io).name(`${tool} openpgp2sshfpr`).argument('<fpr>', 'fingerprint (suffix) of the key');
      cmd.parse(args, { from: 'user' });
      const { keys, notes } = readKeyPackets(await readAll(io.stdin));
      const key = selectKey(keys, normalizeKeyId(cmd.args[0]), notes);
      io.stdout.write(`${toSshFingerprint(key)}\n`);
      return 0;
    }
  }
}

/** Whether a name (argv[0]'s basename) selects a translator directly. */
export function verbForInvocation(name: string): Verb | undefined {
  const base = basename(name).replace(/\.(js|ts|mjs)$/, '');
  return (TRANSLATORS as readonly string[]).includes(base) ? (base as Verb) : undefined;
}

/**
 * keytrans main. `invokedAs` is argv[0] (default: process.argv[1]); under a
 * translator's name the verb is implied, otherwise argv[0] is the verb.
 */
export async function main(argv: string[], io: Io = processIo(), invokedAs: string = process.argv[1] ?? 'keytrans'): Promise<number> {
  const implied = verbForInvocation(invokedAs);
  const tool = implied ?? 'keytrans';
  return runCommand(tool, io, async () => {
    let verb: string | undefined = implied;
    let args = argv;
    if (!verb) {
      verb = argv[0];
      args = argv.slice(1);
      if (verb === undefined || verb === '-h' || verb === '--help' || verb === 'help') {
        (verb === undefined ? io.stderr : io.stdout).write(
          `usage: keytrans VERB [ARGS...]\nverbs: ${VERBS.join(', ')}\n(also invoked as ${TRANSLATORS.join(', ')})\n`,
        );
        return verb === undefined ? 2 : 0;
      }
      if (!(VERBS as readonly string[]).includes(verb)) throw new UsageError('MS_KEYTRANS_VERB', 'Unrecognized keytrans call.', { hints: [`verbs: ${VERBS.join(', ')}`] });
    }
    return runVerb(verb as Verb, args, io, tool);
  });
}

