/** The messages the extension's pages send to its background page, and what comes back. */
import type { SiteMode } from './settings.js';
import type { VerdictKind } from './verdict.js';

/** One page's verdict, as the background keeps it for a tab. */
export interface Verdict {
  kind: VerdictKind;
  /** The peer name asked about (host[:port]); the user ID is `https://` + this. */
  host: string;
  url: string;
  message: string;
  certified: string[];
  server?: string;
  /** SHA-256 of the certificate the site presented, lowercase hex. */
  sha256?: string;
  subject?: string;
  issuer?: string;
  /** When the agent answered (ms since the epoch). */
  at: number;
  /** The user proceeded to this site despite the mismatch. */
  proceeded?: boolean;
}

/** What the toolbar shows for a tab. */
export interface TabState {
  host?: string;
  verdict?: Verdict;
  /** The page is HTTPS but not checked (ignored, or only chosen sites are checked). */
  notChecked?: 'ignored' | 'not-chosen';
  mode?: SiteMode;
  proceeded: string[];
}

export type Message =
  | { type: 'tab-state'; tabId: number }
  | { type: 'set-site'; host: string; mode: SiteMode | null }
  | { type: 'blocked-info'; id: string }
  | { type: 'proceed'; id: string }
  | { type: 'forget-proceed'; host: string }
  | { type: 'reload-settings' }
  | { type: 'test-agent'; url: string };

export interface BlockedInfo {
  url: string;
  verdict: Verdict;
}
