/**
 * The validation agent's command, under its three names (`monkeysphere-validation-agent`,
 * msva-perl's `msva-perl`, and `msva`): msva-perl's invocation pattern, like ssh-agent's.
 * Without arguments it prints `MONKEYSPHERE_VALIDATION_AGENT_SOCKET=http://127.0.0.1:PORT;`
 * and an `export` line, then serves until SIGTERM or SIGINT. With arguments it runs them as
 * a command with that variable set, and exits with the command's status when it ends (111
 * when it cannot be started, as msva-perl's `exec … or exit 111`). MSVA_LOG_LEVEL: silent,
 * quiet, fatal, error (default), info, verbose, debug, debug1–3.
 */
import { spawn } from 'node:child_process';
import { startValidationAgent } from '../msva/agent.js';
import { type Io, processIo } from './io.js';
import { type Level, Logger } from './log.js';
import { runCommand } from './run.js';
import { version } from './version.js';

/** msva-perl's levels onto ours: below `error` nothing is logged (we have no fatal-only messages). */
export function msvaLevel(value: string | undefined): Level {
  switch ((value ?? 'error').toLowerCase()) {
    case 'silent':
    case 'quiet':
    case 'fatal':
      return 'SILENT';
    case 'info':
      return 'INFO';
    case 'verbose':
      return 'VERBOSE';
    case 'debug':
    case 'debug1':
    case 'debug2':
    case 'debug3':
      return 'DEBUG';
    default:
      return 'ERROR';
  }
}

/** The `server` member of every reply. */
export function serverName(): string {
  return `MSVA-Monkeysphere ${version()}`;
}

const USAGE = `Usage: %s [ COMMAND [ ARGS ... ] ]

Runs a Monkeysphere validation agent on 127.0.0.1. Without a command, prints
MONKEYSPHERE_VALIDATION_AGENT_SOCKET for the shell and serves until killed; with one,
runs it with MONKEYSPHERE_VALIDATION_AGENT_SOCKET set and exits with its status.
Environment: MSVA_PORT, MSVA_ALLOWED_USERS, MSVA_KEYSERVER_POLICY, MSVA_KEYSERVER,
MSVA_LOG_LEVEL, GNUPGHOME (see the manual page).
`;

export async function runValidationAgent(tool: string, argv: string[], io: Io = processIo()): Promise<number> {
  return runCommand(tool, io, async () => {
    if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
      io.stdout.write(USAGE.replace('%s', tool));
      return 0;
    }
    if (argv.length === 1 && argv[0] === '--version') {
      io.stdout.write(`${serverName()}\n`);
      return 0;
    }
    const log = new Logger(io, msvaLevel(io.env.MSVA_LOG_LEVEL), `${tool}: `);
    const agent = await startValidationAgent(io.env, log, serverName());
    const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
    const handlers = new Map<NodeJS.Signals, () => void>();
    const done = (): void => {
      for (const [s, h] of handlers) process.off(s, h);
    };
    try {
      if (argv.length === 0) {
        io.stdout.write(`MONKEYSPHERE_VALIDATION_AGENT_SOCKET=${agent.url};\nexport MONKEYSPHERE_VALIDATION_AGENT_SOCKET;\n`);
        await new Promise<void>((resolve) => {
          for (const s of signals) {
            const h =
              s === 'SIGHUP'
                ? () => log.info('SIGHUP: nothing to reload; the keyring is read again whenever it changes')
                : () => {
                    log.verbose(`${s}: closing`);
                    resolve();
                  };
            handlers.set(s, h);
            process.on(s, h);
          }
        });
        return 0;
      }
      return await new Promise<number>((resolve) => {
        log.verbose(`PID ${process.pid} executing: ${argv.join(' ')}`);
        const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env: { ...io.env, MONKEYSPHERE_VALIDATION_AGENT_SOCKET: agent.url } });
        child.on('error', (err) => {
          log.error(`cannot run ${JSON.stringify(argv[0])}: ${err.message}`);
          resolve(111);
        });
        child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : 1)));
        for (const s of signals) {
          // The command gets the signals the agent gets; the agent ends with it.
          const h = () => {
            if (child.exitCode === null) child.kill(s);
          };
          handlers.set(s, h);
          process.on(s, h);
        }
      });
    } finally {
      done();
      await agent.close();
    }
  });
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  const n: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13, SIGABRT: 6 };
  return n[signal];
}
