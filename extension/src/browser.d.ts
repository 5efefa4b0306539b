/**
 * The part of Firefox's WebExtension API (`browser.*`, promise-based) this extension uses,
 * typed by hand: no @types package needed. See MDN's WebExtensions JavaScript API reference.
 */
declare namespace browser {
  namespace runtime {
    function getURL(path: string): string;
    function sendMessage<T = unknown>(message: unknown): Promise<T>;
    const onMessage: { addListener(cb: (message: unknown, sender: unknown) => Promise<unknown> | undefined): void };
  }
  namespace storage {
    const local: { get(key: string): Promise<Record<string, unknown>>; set(items: Record<string, unknown>): Promise<void> };
    const onChanged: { addListener(cb: (changes: Record<string, unknown>, area: string) => void): void };
  }
  namespace tabs {
    interface Tab {
      id?: number;
      url?: string;
      active: boolean;
    }
    function query(q: { active?: boolean; currentWindow?: boolean; url?: string | string[] }): Promise<Tab[]>;
    function get(tabId: number): Promise<Tab>;
    function update(tabId: number, props: { url: string }): Promise<Tab>;
    const onRemoved: { addListener(cb: (tabId: number) => void): void };
    const onUpdated: { addListener(cb: (tabId: number, change: { status?: string; url?: string }, tab: Tab) => void): void };
  }
  namespace webNavigation {
    const onCommitted: { addListener(cb: (d: { tabId: number; frameId: number; url: string }) => void): void };
  }
  namespace webRequest {
    interface HeadersReceivedDetails {
      requestId: string;
      url: string;
      tabId: number;
      type: string;
      fromCache?: boolean;
    }
    interface CertificateInfo {
      subject: string;
      issuer: string;
      rawDER?: number[];
      fingerprint: { sha1: string; sha256: string };
    }
    interface SecurityInfo {
      state: 'insecure' | 'weak' | 'broken' | 'secure';
      certificates: CertificateInfo[];
      errorMessage?: string;
    }
    interface BlockingResponse {
      cancel?: boolean;
      redirectUrl?: string;
    }
    function getSecurityInfo(requestId: string, options: { rawDER?: boolean; certificateChain?: boolean }): Promise<SecurityInfo>;
    const onHeadersReceived: {
      addListener(cb: (d: HeadersReceivedDetails) => Promise<BlockingResponse> | BlockingResponse, filter: { urls: string[]; types?: string[] }, extra: string[]): void;
    };
  }
  namespace browserAction {
    function setIcon(d: { tabId?: number; path: string | Record<string, string> }): Promise<void>;
    function setBadgeText(d: { tabId?: number; text: string | null }): Promise<void>;
    function setBadgeBackgroundColor(d: { tabId?: number; color: string | null }): Promise<void>;
    function setTitle(d: { tabId?: number; title: string | null }): Promise<void>;
    function getBadgeText(d: { tabId?: number }): Promise<string>;
    function getTitle(d: { tabId?: number }): Promise<string>;
  }
  namespace runtime {
    function openOptionsPage(): Promise<void>;
  }
}
