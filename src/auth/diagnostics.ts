/**
 * `diagnostics`: the original's checks, on our layout: the data directories, one valid
 * trust core that does not expire soon, at least one identity certifier, and an sshd
 * configuration (`sshd -T`) that consults Monkeysphere through AuthorizedKeysFile
 * $SYSDATADIR/authorized_keys/%u or the AuthorizedKeysCommand. Returns the report lines
 * (`! problem` followed by ` - Recommendation: …`) and the number of problems.
 */
import { isoDate } from '../clock.js';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { AuthPaths } from './config.js';

export interface DiagnosticsInput {
  paths: AuthPaths;
  /** Unix seconds. */
  now: number;
  core?: { fpr: string; created: number; expires?: number; status: string };
  certifiers: number;
  /** `sshd -T` output; undefined when sshd could not be asked. */
  sshdConfig?: string;
  /** The keys-for-user command to recommend (default: keysCommandPath()). */
  keysCommand?: { path: string; found: boolean };
  /** How recently the keyserver confirmed the certificates that grant keys (the window for revocations). */
  freshness?: Freshness;
  /** The accounts' authorized_user_ids files, to check that an unprivileged AuthorizedKeysCommandUser can reach them. */
  userFiles?: Array<{ account: string; path: string }>;
}

export interface Freshness {
  /** Certificates whose bindings grant at least one key. */
  granting: number;
  /** Of those, how many were never confirmed. */
  unchecked: number;
  /** The least recently confirmed (a never-confirmed one first) and when; undefined when never. */
  oldestFpr?: string;
  oldestChecked?: number;
  /** REFRESH_MAX_AGE; 0 for none. */
  maxAge: number;
}

export const KEYS_COMMAND = 'monkeysphere-authentication-keys-for-user';
/** Where scripts/setup.sh links the commands unless MS_BIN_DIR says otherwise. */
export const DEFAULT_BIN_DIR = '/usr/local/bin';

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    // Missing or not executable: not this one.
    return false;
  }
}

/**
 * The installed keys-for-user command, for sshd_config: beside the running tool (its
 * link in the bin directory), else the first on PATH, else where setup.sh links it by
 * default. Absolute paths only: sshd runs the command without a PATH. The link itself,
 * not its target: sshd checks the resolved path's ownership on its own.
 */
export function keysCommandPath(pathVar = process.env.PATH ?? '', running = process.argv[1]): { path: string; found: boolean } {
  const dirs = [...(running && isAbsolute(running) ? [dirname(running)] : []), ...pathVar.split(':').filter((d) => isAbsolute(d))];
  for (const dir of dirs) {
    const path = join(dir, KEYS_COMMAND);
    if (isExecutableFile(path)) return { path, found: true };
  }
  return { path: join(DEFAULT_BIN_DIR, KEYS_COMMAND), found: false };
}

const WARN_WINDOW = 60 * 86400;

/** Whether a user other than the owner (nor in its group) can read `path`: every directory above it searchable, the file readable, by others. */
function searchableByOthers(path: string): boolean {
  try {
    if ((statSync(path).mode & 0o004) === 0) return false;
    for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) if ((statSync(dir).mode & 0o001) === 0) return false;
    return true;
  } catch {
    return false;
  }
}

/** Runs `sshd -T` (as the original read sshd_config); undefined when that fails. */
export function sshdEffectiveConfig(sshd = '/usr/sbin/sshd'): string | undefined {
  const r = spawnSync(sshd, ['-T'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout : undefined;
}

export function diagnose(input: DiagnosticsInput): { lines: string[]; problems: number } {
  const lines: string[] = [];
  let problems = 0;
  const problem = (what: string, recommendation?: string) => {
    lines.push(`! ${what}`);
    if (recommendation) lines.push(` - Recommendation: ${recommendation}`);
    problems++;
  };
  const { paths } = input;
  if (!existsSync(paths.sysDataDir)) problem(`no ${paths.sysDataDir} directory found.`, "run 'monkeysphere-authentication setup'");
  lines.push('Checking for authentication directory...');
  if (!existsSync(paths.dataDir)) {
    problem('No authentication data directory found.', "run 'monkeysphere-authentication setup'");
    return { lines, problems };
  }
  if (existsSync(paths.coreKey) && (statSync(paths.coreKey).mode & 0o077) !== 0) {
    problem(`the core secret key ${paths.coreKey} is readable by others.`, `chmod 600 '${paths.coreKey}'`);
  }
  lines.push('Checking core key...');
  const core = input.core;
  if (!core) problem('No core key found.', "run 'monkeysphere-authentication setup'");
  else {
    if (core.status === 'expired' || (core.expires !== undefined && core.expires <= input.now)) problem('Core key is expired.', "remove the core key and run 'monkeysphere-authentication setup', then add the certifiers again");
    else if (core.status === 'revoked') problem('Core key is revoked.', "remove the core key and run 'monkeysphere-authentication setup', then add the certifiers again");
    else if (core.expires !== undefined && core.expires < input.now + WARN_WINDOW) {
      problem(`Core key expires in less than 2 months: ${isoDate(core.expires)}`);
    }
    if (core.created > input.now) problem('Core key was created in the future(?!). Is your clock correct?', 'check the clock; use NTP?');
  }
  lines.push('', 'Checking for Identity Certifiers...');
  if (input.certifiers === 0) {
    problem(
      'No Identity Certifiers found!',
      'once you know who should be able to certify the identities of connecting users, add their key with: monkeysphere-authentication add-identity-certifier',
    );
  }
  if (input.freshness) {
    const f = input.freshness;
    lines.push('', 'Checking how fresh the certificates that grant keys are...');
    if (f.granting === 0) lines.push('No certificate grants a key yet.');
    else {
      const age = f.oldestChecked === undefined ? undefined : input.now - f.oldestChecked;
      const window =
        age === undefined
          ? `${f.unchecked} of ${f.granting} certificate(s) granting keys were never confirmed by the keyserver (for instance ${f.oldestFpr}), so a revocation published for them is not known here`
          : `revocations reach this host within ${Math.round(age / 3600)} h: the least recently confirmed of ${f.granting} certificate(s) granting keys, ${f.oldestFpr}, was confirmed on ${isoDate(f.oldestChecked as number)}`;
      if (f.maxAge > 0 && (age === undefined || age > f.maxAge)) {
        problem(`${window}; REFRESH_MAX_AGE is ${f.maxAge} s.`, 'run refresh-keys regularly (contrib/systemd/monkeysphere-refresh-keys.timer), or set LOGIN_KEYSERVER_TIMEOUT so logins refresh stale certificates');
      } else lines.push(window);
    }
  }
  lines.push('', 'Checking for Monkeysphere-enabled public-key authentication for users ...');
  const file = `${paths.authorizedKeysDir}/%u`;
  if (input.sshdConfig === undefined) {
    problem('could not read the sshd configuration (sshd -T failed).', 'run diagnostics as root on the server');
  } else {
    const settings = input.sshdConfig.split('\n').map((l) => l.trim());
    const files = settings.filter((l) => l.toLowerCase().startsWith('authorizedkeysfile ')).flatMap((l) => l.split(/\s+/).slice(1));
    const command = settings.find((l) => l.toLowerCase().startsWith('authorizedkeyscommand '))?.split(/\s+/).slice(1).join(' ') ?? 'none';
    const viaCommand = command.includes(KEYS_COMMAND);
    if (!files.includes(file) && !viaCommand) {
      const keys = input.keysCommand ?? keysCommandPath();
      problem(
        'sshd does not consult monkeysphere authorized keys.',
        `add 'AuthorizedKeysFile ${file}' or 'AuthorizedKeysCommand ${keys.path} %u %f' with 'AuthorizedKeysCommandUser monkeysphere' to sshd_config (%f lets it log each decision)` +
          (keys.found ? '' : ` (${KEYS_COMMAND} was not found on PATH; ${DEFAULT_BIN_DIR} is where scripts/setup.sh installs it)`),
      );
    }
    const commandUser = settings.find((l) => l.toLowerCase().startsWith('authorizedkeyscommanduser '))?.split(/\s+/)[1];
    if (viaCommand && commandUser !== undefined && commandUser !== 'root' && input.userFiles) {
      // The command reads these with its own rights: a home others may not enter hides them.
      const hidden = input.userFiles.filter((f) => existsSync(f.path) && !searchableByOthers(f.path));
      if (hidden.length > 0) {
        problem(
          `${hidden.length} account(s) list user IDs that ${commandUser} (AuthorizedKeysCommandUser) cannot reach, e.g. ${hidden[0].path}: their logins through the command are refused.`,
          'let others enter those homes (chmod 711 on the home and .monkeysphere, the file 0644), or use AuthorizedKeysCommandUser root, or AuthorizedKeysFile with update-users',
        );
      }
    }
    const others = files.filter((f) => f !== file && f !== 'none');
    if (others.length > 0 && files.includes(file)) {
      problem(`sshd also reads non-monkeysphere authorized_keys files: ${others.join(' ')}`, 'remove them from AuthorizedKeysFile');
    }
  }
  if (problems > 0) {
    lines.push(`When the above ${problems} issue${problems === 1 ? ' is' : 's are'} resolved, please re-run:`, '  monkeysphere-authentication diagnostics');
  } else lines.push('Everything seems to be in order!');
  return { lines, problems };
}
