/**
 * Publishing host keys: each one's minimal public certificate sent to the keyserver.
 * One key's failure does not stop the others; the run fails if any did. The command
 * asks (confirm) and words what happened (onEvent).
 */
import { MsError, TemporaryError } from '../errors.js';
import type { HostKeyserver } from './keyserver.js';
import { type HostKey, minimalPublicCert } from './store.js';

export type PublishEvent =
  | { type: 'declined'; fpr: string }
  | { type: 'published'; fpr: string; server: string }
  | { type: 'failed'; fpr: string; error: MsError };

export interface PublishOptions {
  /** The keyserver, asked for each key (its failure counts as that key's). */
  keyserver: () => Promise<HostKeyserver>;
  /** Whether to publish this key; absent: every key. */
  confirm?: (key: HostKey) => Promise<boolean>;
  onEvent: (event: PublishEvent) => void;
}

/**
 * Publishes `keys`.
 * @throws the error itself when the only key fails; TemporaryError (MS_HOST_PUBLISH) when some of several did.
 */
export async function publishHostKeys(keys: readonly HostKey[], opts: PublishOptions): Promise<void> {
  let failed = 0;
  for (const k of keys) {
    if (opts.confirm && !(await opts.confirm(k))) {
      opts.onEvent({ type: 'declined', fpr: k.fpr });
      continue;
    }
    try {
      const result = await (await opts.keyserver()).send([minimalPublicCert(k.cert)]);
      opts.onEvent({ type: 'published', fpr: k.fpr, server: result.server });
    } catch (err) {
      if (!(err instanceof MsError)) throw err;
      failed++;
      opts.onEvent({ type: 'failed', fpr: k.fpr, error: err });
      if (keys.length === 1) throw err;
    }
  }
  if (failed > 0) throw new TemporaryError('MS_HOST_PUBLISH', `${failed} of ${keys.length} keys were not published`);
}
