/**
 * The validation agent put together: its settings from msva-perl's environment variables
 * (MSVA_PORT, MSVA_ALLOWED_USERS, MSVA_KEYSERVER_POLICY, MSVA_KEYSERVER) and the user's
 * Monkeysphere settings (GnuPG home, keyserver, KEYSERVER_TIMEOUT), trust from the user's
 * GnuPG home (trust.ts), and the HTTP server (server.ts). Each request is judged at its own
 * reference time.
 */
import { referenceTime } from '../clock.js';
import type { Env } from '../config/config.js';
import { EnvironmentError, errorMessage } from '../errors.js';
import { loadUserSettings } from '../user/settings.js';
import { allowedUids } from './peer-uid.js';
import type { KeyserverPolicy } from './request.js';
import { review } from './review.js';
import { type AgentLog, type AgentServer, startAgentServer } from './server.js';
import { HomeTrust } from './trust.js';

export interface AgentSettings {
  /** 0: any free port. */
  port: number;
  keyserverPolicy: KeyserverPolicy;
  keyserver: string;
  keyserverTimeout: number;
  gnupgHome: string;
  allowed: Set<number>;
}

/** msva-perl's keyserver syntax for MSVA_KEYSERVER: an optional scheme, then a domain. */
const KEYSERVER = /^(?:(?:hkps?|hkpms|finger|ldap):\/\/)?[A-Za-z](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*(?::\d+)?$/;

/**
 * Reads the agent's settings.
 * @throws EnvironmentError (MS_MSVA_PORT) for an MSVA_PORT that is not a port.
 */
export function agentSettings(env: Env, log: AgentLog, self = process.getuid?.() ?? 0): AgentSettings {
  let port = 0;
  const rawPort = env.MSVA_PORT;
  if (rawPort !== undefined && rawPort !== '') {
    port = /^\s*\d+\s*$/.test(rawPort) ? Number(rawPort) : Number.NaN;
    if (!(port > 0 && port < 65536)) {
      throw new EnvironmentError('MS_MSVA_PORT', `not a reasonable port: MSVA_PORT=${JSON.stringify(rawPort)}`, { hints: ['set MSVA_PORT to a port from 1 to 65535, or unset it for any free port'] });
    }
  }
  let keyserverPolicy: KeyserverPolicy = 'unlessvalid';
  const rawPolicy = env.MSVA_KEYSERVER_POLICY;
  if (rawPolicy !== undefined && rawPolicy !== '') {
    if (rawPolicy === 'always' || rawPolicy === 'never' || rawPolicy === 'unlessvalid') keyserverPolicy = rawPolicy;
    else log.error(`Not a valid MSVA_KEYSERVER_POLICY: ${JSON.stringify(rawPolicy)}; using unlessvalid`);
  }
  const user = loadUserSettings(env);
  for (const p of user.problems) log.error(p.message);
  let keyserver = user.keyserver;
  const rawKs = env.MSVA_KEYSERVER;
  if (rawKs !== undefined && rawKs !== '') {
    if (KEYSERVER.test(rawKs)) keyserver = rawKs.includes('://') ? rawKs : `hkp://${rawKs}`;
    else log.error(`Not a valid keyserver (from MSVA_KEYSERVER): ${JSON.stringify(rawKs)}`);
  }
  const { uids, unknown } = allowedUids(env.MSVA_ALLOWED_USERS, self);
  if (env.MSVA_ALLOWED_USERS) log.verbose('MSVA_ALLOWED_USERS environment variable is set. Limiting access to specified users.');
  for (const u of unknown) log.error(`Could not find user '${u}'; not allowing`);
  return { port, keyserverPolicy, keyserver, keyserverTimeout: user.config.KEYSERVER_TIMEOUT, gnupgHome: user.config.GNUPGHOME, allowed: uids };
}

export interface RunningAgent extends AgentServer {
  settings: AgentSettings;
}

/**
 * Starts the agent for the user whose environment `env` is.
 * @throws EnvironmentError (MS_MSVA_PORT for a bad MSVA_PORT, MS_MSVA_LISTEN when it cannot listen).
 */
export async function startValidationAgent(env: Env, log: AgentLog, serverName: string): Promise<RunningAgent> {
  const settings = agentSettings(env, log);
  const trust = new HomeTrust({ env, gnupgHome: settings.gnupgHome, keyserver: settings.keyserver, keyserverTimeout: settings.keyserverTimeout, log });
  let server: AgentServer;
  try {
    server = await startAgentServer({
      port: settings.port,
      allowedUids: settings.allowed,
      serverName,
      log,
      answer: (req) => review(req, trust, { now: referenceTime(env), keyserverPolicy: settings.keyserverPolicy, log }),
    });
  } catch (err) {
    await trust.close();
    throw new EnvironmentError('MS_MSVA_LISTEN', `cannot listen on 127.0.0.1:${settings.port}: ${errorMessage(err)}`, {
      cause: err,
      hints: settings.port ? ['another program uses MSVA_PORT; choose another port, or unset MSVA_PORT for any free port'] : [],
    });
  }
  log.verbose(`listening on ${server.url}; GnuPG home ${settings.gnupgHome}; keyserver policy ${settings.keyserverPolicy}, keyserver ${settings.keyserver}`);
  return {
    ...server,
    settings,
    close: async () => {
      await server.close();
      await trust.close();
    },
  };
}
