/**
 * An ssh-agent client (draft-miller-ssh-agent, OpenSSH's PROTOCOL.agent) over SSH_AUTH_SOCK:
 * add a key (with the confirm and lifetime constraints), remove one, list them. Replies
 * are read with a bound on their length and time, so a hostile or broken agent cannot
 * make us allocate what it claims or wait forever.
 */
import { EnvironmentError, errorMessage, InputError } from '../errors.js';
import { SshReader, sshString, sshUint32 } from '../ssh/wire.js';
import { connectUnix, SocketReader } from './socket-reader.js';

export const SSH_AGENT = {
  REQUEST_IDENTITIES: 11,
  IDENTITIES_ANSWER: 12,
  ADD_IDENTITY: 17,
  REMOVE_IDENTITY: 18,
  ADD_ID_CONSTRAINED: 25,
  FAILURE: 5,
  SUCCESS: 6,
  CONSTRAIN_LIFETIME: 1,
  CONSTRAIN_CONFIRM: 2,
} as const;

/** OpenSSH's own limit on an agent message (AGENT_MAX_LEN, 256 KiB). */
export const MAX_AGENT_MESSAGE = 256 * 1024;
/** sun_path holds 108 bytes on Linux, with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface SshIdentity {
  /** The public key blob. */
  blob: Buffer;
  comment: string;
}

export interface Constraints {
  /** Ask the user (ssh-askpass) before each use. */
  confirm?: boolean;
  /** Seconds the agent keeps the key. */
  lifetime?: number;
}

/**
 * The agent socket named by SSH_AUTH_SOCK, with the original agent-transfer's messages.
 * @throws EnvironmentError (MS_AGENT_SSH_AGENT_UNAVAILABLE)
 */
export function sshAuthSock(env: NodeJS.ProcessEnv): string {
  const path = env.SSH_AUTH_SOCK;
  if (!path) throw new EnvironmentError('MS_AGENT_SSH_AGENT_UNAVAILABLE', 'SSH_AUTH_SOCK is not set, cannot talk to agent.', { hints: ['start one with: eval "$(ssh-agent)"'] });
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new EnvironmentError('MS_AGENT_SSH_AGENT_UNAVAILABLE', `SSH_AUTH_SOCK (${path}) is larger than the maximum allowed socket path (${MAX_SOCKET_PATH + 1})`);
  }
  return path;
}

export class SshAgentClient {
  private constructor(
    private readonly reader: SocketReader,
    readonly path: string,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Connects to the agent at `path`.
   * @throws EnvironmentError (MS_AGENT_SSH_AGENT_UNAVAILABLE)
   */
  static async connect(path: string, timeoutMs = 30_000): Promise<SshAgentClient> {
    try {
      const socket = await connectUnix(path, 'ssh-agent', timeoutMs);
      return new SshAgentClient(new SocketReader(socket, 'ssh-agent', MAX_AGENT_MESSAGE + 4), path, timeoutMs);
    } catch (err) {
      throw new EnvironmentError('MS_AGENT_SSH_AGENT_UNAVAILABLE', `Failed to connect to ssh agent socket ${path} (${errorMessage(err)})`, { cause: err });
    }
  }

  /**
   * Sends one message and returns the reply's body (type byte first).
   * @throws EnvironmentError (MS_AGENT_PROTOCOL), TemporaryError (MS_AGENT_TIMEOUT)
   */
  async request(message: Buffer): Promise<Buffer> {
    const framed = Buffer.concat([sshUint32(message.length), message]);
    try {
      await this.reader.write(framed);
    } finally {
      // An ADD_IDENTITY message carries the secret key: this copy is not kept either.
      framed.fill(0);
    }
    const head = await this.reader.bytes(4, this.timeoutMs);
    if (head.length !== 4) throw new EnvironmentError('MS_AGENT_PROTOCOL', `failed to get 4 bytes from ssh-agent (got ${head.length})`);
    const length = head.readUInt32BE(0);
    if (length === 0 || length > MAX_AGENT_MESSAGE) {
      this.reader.close();
      throw new EnvironmentError('MS_AGENT_PROTOCOL', `ssh-agent sent a reply of ${length} bytes (at most ${MAX_AGENT_MESSAGE} are accepted)`);
    }
    const body = await this.reader.bytes(length, this.timeoutMs);
    if (body.length !== length) throw new EnvironmentError('MS_AGENT_PROTOCOL', `failed to get ${length} bytes from ssh-agent (got ${body.length})`);
    return body;
  }

  /** The identities the agent holds (REQUEST_IDENTITIES). @throws EnvironmentError (MS_AGENT_PROTOCOL) */
  async listIdentities(): Promise<SshIdentity[]> {
    const reply = await this.request(Buffer.from([SSH_AGENT.REQUEST_IDENTITIES]));
    if (reply[0] !== SSH_AGENT.IDENTITIES_ANSWER) throw new EnvironmentError('MS_AGENT_PROTOCOL', `ssh-agent answered the identity list with message ${reply[0]}`);
    try {
      const r = new SshReader(reply.subarray(1), 'ssh-agent identity list');
      const n = r.uint32();
      // Each identity takes at least 8 bytes: a count beyond that is a lie, caught before looping on it.
      if (n > r.remaining / 8) throw new InputError('MS_SSH_MALFORMED', `ssh-agent claims ${n} identities in ${r.remaining} bytes`);
      const out: SshIdentity[] = [];
      for (let i = 0; i < n; i++) out.push({ blob: Buffer.from(r.string()), comment: r.text() });
      return out;
    } catch (err) {
      throw new EnvironmentError('MS_AGENT_PROTOCOL', `malformed identity list from ssh-agent: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * Adds a key: `keyFields` is the key type and its private fields (secret-key.ts
   * sshAgentKeyFields). ADD_ID_CONSTRAINED when a constraint is given, as the original.
   * @throws EnvironmentError (MS_AGENT_SSH_AGENT_REFUSED, MS_AGENT_PROTOCOL)
   */
  async addIdentity(keyFields: Buffer, comment: string, constraints: Constraints = {}): Promise<void> {
    const extra: Buffer[] = [];
    if (constraints.confirm) extra.push(Buffer.from([SSH_AGENT.CONSTRAIN_CONFIRM]));
    if (constraints.lifetime) extra.push(Buffer.from([SSH_AGENT.CONSTRAIN_LIFETIME]), sshUint32(constraints.lifetime));
    const type = extra.length > 0 ? SSH_AGENT.ADD_ID_CONSTRAINED : SSH_AGENT.ADD_IDENTITY;
    const message = Buffer.concat([Buffer.from([type]), keyFields, sshString(comment), ...extra]);
    let reply: Buffer;
    try {
      reply = await this.request(message);
    } finally {
      message.fill(0);
    }
    if (reply.length !== 1 || reply[0] !== SSH_AGENT.SUCCESS) {
      throw new EnvironmentError('MS_AGENT_SSH_AGENT_REFUSED', `ssh-agent did not claim success (expected: ${SSH_AGENT.SUCCESS}; got ${reply[0]})`, {
        hints: constraints.confirm ? ['an agent that cannot ask for confirmation (no ssh-askpass) refuses keys added with -c'] : [],
      });
    }
  }

  /**
   * Removes the key with this public key blob.
   * @throws EnvironmentError (MS_AGENT_SSH_AGENT_REFUSED) when the agent does not hold it or refuses
   */
  async removeIdentity(blob: Buffer): Promise<void> {
    const reply = await this.request(Buffer.concat([Buffer.from([SSH_AGENT.REMOVE_IDENTITY]), sshString(blob)]));
    if (reply.length !== 1 || reply[0] !== SSH_AGENT.SUCCESS) {
      throw new EnvironmentError('MS_AGENT_SSH_AGENT_REFUSED', `ssh-agent did not remove the key (expected: ${SSH_AGENT.SUCCESS}; got ${reply[0]})`);
    }
  }

  close(): void {
    this.reader.close();
  }
}
