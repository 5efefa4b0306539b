/**
 * Typed configuration for the Monkeysphere tools, with the original's precedence:
 * `MONKEYSPHERE_<VAR>` in the environment > user config file > system config file >
 * defaults. Each tool passes its variable schema and the files to read; this module
 * knows the standard locations but not which tool uses which variables.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../errors.js';
import { readRegularFile } from '../files/user-file.js';
import { DEFAULT_KEYSERVER } from '../keyserver/url.js';
import { type ConfigLineProblem, parseShellConfig } from './shell.js';

export type Env = Readonly<Record<string, string | undefined>>;

export type VarSpec =
  | { kind: 'string'; default: string; env?: string; fallbackEnv?: string[] }
  | { kind: 'boolean'; default: boolean; env?: string; fallbackEnv?: string[] }
  | { kind: 'integer'; default: number; env?: string; fallbackEnv?: string[] }
  | { kind: 'level'; default: string; env?: string; fallbackEnv?: string[] };

export type Schema = Readonly<Record<string, VarSpec>>;

type ValueOf<V extends VarSpec> = V extends { kind: 'boolean' } ? boolean : V extends { kind: 'integer' } ? number : string;

export type ConfigValues<S extends Schema> = { -readonly [K in keyof S]: ValueOf<S[K]> };

export type ValueSource =
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string; line: number }
  | { kind: 'fallback-env'; name: string }
  | { kind: 'default' };

export interface ConfigProblem extends Partial<ConfigLineProblem> {
  /** The file, or `environment`. */
  where: string;
  message: string;
}

export interface LoadedConfig<S extends Schema> {
  values: ConfigValues<S>;
  sources: { [K in keyof S]: ValueSource };
  /** The files that existed and were read, lowest precedence first. */
  files: string[];
  /** Lines skipped and values rejected; the CLI logs them. */
  problems: ConfigProblem[];
}

export interface LoadOptions {
  env: Env;
  /** Config files, lowest precedence first (system, then user); missing files are skipped. */
  files: string[];
}

const LEVELS = ['SILENT', 'ERROR', 'INFO', 'VERBOSE', 'DEBUG'];

/** The environment variable that overrides VAR: `MONKEYSPHERE_<VAR>` (so MONKEYSPHERE_USER → MONKEYSPHERE_MONKEYSPHERE_USER). */
export function envNameFor(name: string, spec?: VarSpec): string {
  return spec?.env ?? `MONKEYSPHERE_${name}`;
}

function convert(spec: VarSpec, raw: string): { ok: true; value: string | boolean | number } | { ok: false; message: string } {
  switch (spec.kind) {
    case 'string':
      return { ok: true, value: raw };
    case 'boolean': {
      const v = raw.trim().toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(v)) return { ok: true, value: true };
      if (['false', 'no', '0', 'off'].includes(v)) return { ok: true, value: false };
      return { ok: false, message: `expected true or false, not ${JSON.stringify(raw)}` };
    }
    case 'integer': {
      if (!/^\s*\d+\s*$/.test(raw)) return { ok: false, message: `expected a whole number, not ${JSON.stringify(raw)}` };
      return { ok: true, value: Number(raw.trim()) };
    }
    case 'level': {
      const v = raw.trim().toUpperCase();
      if (LEVELS.includes(v)) return { ok: true, value: v };
      return { ok: false, message: `unknown log level ${JSON.stringify(raw)} (expected ${LEVELS.join(', ')}); using INFO` };
    }
  }
}

/** Config files are a few lines; anything larger is a mistake or an attack, not read. */
const MAX_CONFIG_BYTES = 1024 * 1024;

function readConfigFile(path: string): string | undefined {
  const r = readRegularFile(path, MAX_CONFIG_BYTES);
  if (r.status === 'absent') return undefined;
  if (r.status === 'read') return r.bytes.toString('utf8');
  throw new EnvironmentError('MS_CONFIG_UNREADABLE', `cannot read config file ${JSON.stringify(path)}: ${r.reason}`, { data: { path } });
}

/**
 * Loads a configuration. Values that do not convert (a boolean that is neither true
 * nor false) are reported in `problems` and fall back to the next source down.
 * Empty environment variables count as unset, as with the original's `${VAR:=…}`.
 * @throws EnvironmentError (MS_CONFIG_UNREADABLE) when a config file exists but cannot be read.
 */
export function loadConfig<S extends Schema>(schema: S, opts: LoadOptions): LoadedConfig<S> {
  const problems: ConfigProblem[] = [];
  const files: string[] = [];
  // What the files assign, with where, last file wins.
  const fromFiles = new Map<string, { value: string; path: string; line: number }>();
  const fileVars = new Map<string, string>();
  for (const path of opts.files) {
    const text = readConfigFile(path);
    if (text === undefined) continue;
    files.push(path);
    const parsed = parseShellConfig(text, (name) => fileVars.get(name) ?? opts.env[name]);
    for (const p of parsed.problems) problems.push({ where: path, line: p.line, message: p.message });
    for (const a of parsed.assignments) {
      fileVars.set(a.name, a.value);
      fromFiles.set(a.name, { value: a.value, path, line: a.line });
    }
  }

  const values: Record<string, string | boolean | number> = {};
  const sources: Record<string, ValueSource> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const candidates: Array<{ raw: string; source: ValueSource; where: string }> = [];
    const envName = envNameFor(name, spec);
    const envValue = opts.env[envName];
    if (envValue !== undefined && envValue !== '') candidates.push({ raw: envValue, source: { kind: 'env', name: envName }, where: 'environment' });
    const f = fromFiles.get(name);
    if (f && (spec.kind === 'string' || f.value !== '')) candidates.push({ raw: f.value, source: { kind: 'file', path: f.path, line: f.line }, where: f.path });
    for (const fb of spec.fallbackEnv ?? []) {
      const v = opts.env[fb];
      if (v !== undefined && v !== '') candidates.push({ raw: v, source: { kind: 'fallback-env', name: fb }, where: 'environment' });
    }
    let chosen: { value: string | boolean | number; source: ValueSource } | undefined;
    for (const c of candidates) {
      const r = convert(spec, c.raw);
      if (r.ok) {
        chosen = { value: r.value, source: c.source };
        break;
      }
      const line = c.source.kind === 'file' ? c.source.line : undefined;
      problems.push({ where: c.where, line, message: `${c.source.kind === 'file' ? name : envName}: ${r.message}` });
      if (spec.kind === 'level') {
        // The original treats an unknown level as INFO rather than falling through.
        chosen = { value: 'INFO', source: c.source };
        break;
      }
    }
    values[name] = chosen?.value ?? spec.default;
    sources[name] = chosen?.source ?? { kind: 'default' };
  }
  return { values: values as ConfigValues<S>, sources: sources as LoadedConfig<S>['sources'], files, problems };
}

export interface SystemDirs {
  /** MONKEYSPHERE_SYSCONFIGDIR, default /etc/monkeysphere. */
  sysConfigDir: string;
  /** MONKEYSPHERE_SYSDATADIR, default /var/lib/monkeysphere. */
  sysDataDir: string;
  /** MONKEYSPHERE_SYSSHAREDIR, default /usr/share/monkeysphere. */
  sysShareDir: string;
}

export function systemDirs(env: Env): SystemDirs {
  return {
    sysConfigDir: env.MONKEYSPHERE_SYSCONFIGDIR || '/etc/monkeysphere',
    sysDataDir: env.MONKEYSPHERE_SYSDATADIR || '/var/lib/monkeysphere',
    sysShareDir: env.MONKEYSPHERE_SYSSHAREDIR || '/usr/share/monkeysphere',
  };
}

export type Tool = 'monkeysphere' | 'monkeysphere-host' | 'monkeysphere-authentication';

/**
 * The config files a tool reads, lowest precedence first:
 * - monkeysphere: $SYSCONFIGDIR/monkeysphere.conf, then MONKEYSPHERE_CONFIG or
 *   ${MONKEYSPHERE_HOME:-~/.monkeysphere}/monkeysphere.conf;
 * - monkeysphere-host: MONKEYSPHERE_HOST_CONFIG or $SYSCONFIGDIR/monkeysphere-host.conf;
 * - monkeysphere-authentication: MONKEYSPHERE_AUTHENTICATION_CONFIG or
 *   $SYSCONFIGDIR/monkeysphere-authentication.conf.
 */
export function configFiles(tool: Tool, env: Env, home: string = env.HOME || homedir()): string[] {
  const { sysConfigDir } = systemDirs(env);
  switch (tool) {
    case 'monkeysphere':
      return [
        join(sysConfigDir, 'monkeysphere.conf'),
        env.MONKEYSPHERE_CONFIG || join(env.MONKEYSPHERE_HOME || join(home, '.monkeysphere'), 'monkeysphere.conf'),
      ];
    case 'monkeysphere-host':
      return [env.MONKEYSPHERE_HOST_CONFIG || join(sysConfigDir, 'monkeysphere-host.conf')];
    case 'monkeysphere-authentication':
      return [env.MONKEYSPHERE_AUTHENTICATION_CONFIG || join(sysConfigDir, 'monkeysphere-authentication.conf')];
  }
}

/**
 * The variables and defaults every tool shares (behaviour inventory §1, "Defaults"),
 * except KEYSERVER: the original's pool.sks-keyservers.net has not existed since 2021,
 * so the default is the project's (src/keyserver/url.ts, DEFAULT_KEYSERVER).
 */
export const COMMON_VARS = {
  LOG_LEVEL: { kind: 'level', default: 'INFO' },
  KEYSERVER: { kind: 'string', default: DEFAULT_KEYSERVER },
  CHECK_KEYSERVER: { kind: 'boolean', default: true },
  STRICT_MODES: { kind: 'boolean', default: true },
  MONKEYSPHERE_USER: { kind: 'string', default: 'monkeysphere' },
  PROMPT: { kind: 'boolean', default: true },
} as const satisfies Schema;
