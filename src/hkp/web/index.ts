/**
 * The keyserver's web pages: search, key pages, upload with a report, statistics. Mounted by
 * the HTTP server (src/hkp/), which passes the requests for its paths to `webHandler`.
 */
export type { CertOutcome, SubmitOptions, SubmitReport, WebKeyserver } from './contract.js';
export { CONTENT_SECURITY_POLICY, type WebContext, type WebHandler, webHandler } from './handler.js';
