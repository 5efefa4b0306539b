/**
 * keytrans: the key translators and the hidden verbs of the original, in one command.
 * `keytrans VERB ARGS…`, or invoked under a translator's name (argv[0] dispatch, as
 * the original's symlinks): pem2openpgp, openpgp2ssh, openpgp2pem, openpgp2spki.
 * Verbs: pem2openpgp UID; openpgp2ssh|openpgp2pem|openpgp2spki [KEYID]; adduserid FPR UID;
 * revokeuserid FPR UID; listfprs; sshfpr; openpgp2sshfpr FPR.
 */
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { referenceTime } from '../clock.js';
import { UsageError } from '../errors.js';
import {
  addUserId,
  generateKey,
  type KeyRef,
  loadPrivateKeyWithPassphrase,
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
import { type LoadedPrivateKey, parsePublicKeyLine, sshFingerprint } from '../ssh/index.js';
import { type Io, processIo, readAll } from './io.js';
import { askPassphraseOnTty } from './prompt.js';
import { runCommand } from './run.js';

export const TRANSLATORS = ['pem2openpgp', 'openpgp2ssh', 'openpgp2pem', 'openpgp2spki'] as const;
const VERBS = [...TRANSLATORS, 'adduserid', 'revokeuserid', 'listfprs', 'sshfpr', 'openpgp2sshfpr'] as const;
type Verb = (typeof VERBS)[number];

function program(name: string, io: Io): Command {
  return new Command(name)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .allowExcessArguments(false);
}

function keyIdArg(arg: string | undefined): KeyRef | undefined {
  return arg === undefined ? undefined : normalizeKeyId(arg);
}

async function runVerb(verb: Verb, args: string[], io: Io, tool: string): Promise<number> {
  const note = (n: string) => io.stderr.write(`${tool}: ${n}\n`);
  // Read only when PEM2OPENPGP_TIMESTAMP does not set the signatures' time.
  const now = () => referenceTime(io.env);
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
          ask: io.stderr.isTTY ? askPassphraseOnTty : undefined,
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

