/**
 * One key from gpg-agent into ssh-agent (the original agent-transfer's main): connect to
 * ssh-agent first, then to gpg-agent (launched if needed), set the pinentry's options,
 * export the key by keygrip and add it with its comment and constraints.
 */
import { connectGpgAgent, type GpgAgentOptions, sendPinentryOptions } from './gpg-agent.js';
import { exportSecretKey } from './key-export.js';
import { type AgentSecretKey, sshAgentKeyFields, sshPublicBlobOf, wipeSecretKey } from './secret-key.js';
import { type Constraints, SshAgentClient, sshAuthSock } from './ssh-agent.js';

export interface TransferRequest extends GpgAgentOptions, Constraints {
  /** 40 hex digits. */
  keygrip: string;
  /** The comment ssh-agent stores; also shown by the pinentry. Default `GnuPG keygrip <keygrip>`. */
  comment?: string;
}

export interface Transferred {
  type: AgentSecretKey['type'];
  /** The public key blob of the key now in ssh-agent. */
  blob: Buffer;
  comment: string;
}

/** The comment the original gives a key sent without one. */
export const defaultComment = (keygrip: string) => `GnuPG keygrip ${keygrip}`;

/**
 * Sends the secret key of `keygrip` from gpg-agent to the ssh-agent of SSH_AUTH_SOCK.
 * @throws EnvironmentError (MS_AGENT_SSH_AGENT_UNAVAILABLE, MS_AGENT_GPG_AGENT_UNAVAILABLE,
 *   MS_AGENT_GPG_AGENT_ERROR, MS_AGENT_SSH_AGENT_REFUSED, MS_AGENT_PROTOCOL),
 *   NotFoundError (MS_AGENT_NO_SECRET_KEY), InputError / UnsupportedError (MS_AGENT_KEY_*),
 *   TemporaryError (MS_AGENT_TIMEOUT)
 */
export async function transferKey(req: TransferRequest): Promise<Transferred> {
  const ssh = await SshAgentClient.connect(sshAuthSock(req.env));
  try {
    const agent = await connectGpgAgent(req);
    try {
      await sendPinentryOptions(agent, req.env, req.notice);
      const key = await exportSecretKey(agent, req.keygrip, req.comment);
      const comment = req.comment ?? defaultComment(req.keygrip);
      const fields = sshAgentKeyFields(key);
      try {
        await ssh.addIdentity(fields, comment, { confirm: req.confirm, lifetime: req.lifetime });
      } finally {
        fields.fill(0);
        wipeSecretKey(key);
      }
      return { type: key.type, blob: sshPublicBlobOf(key), comment };
    } finally {
      agent.close();
    }
  } finally {
    ssh.close();
  }
}
