/**
 * What the HTTP face needs of the keyserver service (src/server/keyserver.ts): its store for
 * reads, `submit` for uploads, and (for the web pages) the upload size its policy takes.
 * Structural, so the routes run over the real `Keyserver` and over test doubles alike.
 */
import type { WebKeyserver } from './web/contract.js';

export type { CertOutcome, SubmitOptions, SubmitReport } from '../server/keyserver.js';

export type KeyserverService = WebKeyserver;
