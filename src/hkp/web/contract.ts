/**
 * What the web pages need of the keyserver service (src/server/keyserver.ts): its store,
 * `submit`, and the upload size its policy takes. Structural, so the pages run over the real
 * `Keyserver` and over test doubles. Types only; the behaviour is the service's.
 */
import type { IngestPolicy, Keyserver } from '../../server/keyserver.js';

export type { CertOutcome, SubmitOptions, SubmitReport } from '../../server/keyserver.js';

/** The part of the keyserver service the web pages use. */
export type WebKeyserver = Pick<Keyserver, 'store' | 'submit'> & { readonly policy?: Pick<IngestPolicy, 'maxUploadBytes'> };
