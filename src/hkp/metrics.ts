/**
 * Counters for Prometheus's text exposition format (version 0.0.4), written by hand: requests
 * by route and status, time spent answering, open connections, uploads by outcome, refusals
 * by rate limit, and the number of stored certificates read at scrape time.
 */
/** A process's counters as plain data, to be summed with other processes' (`serve --workers`). */
export interface MetricsSnapshot {
  requests: Array<[string, number]>;
  seconds: Array<[string, { sum: number; count: number }]>;
  uploads: Array<[string, number]>;
  rateLimited: number;
  connections: number;
  inFlight: number;
  started: number;
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly seconds = new Map<string, { sum: number; count: number }>();
  private readonly uploads = new Map<string, number>();
  rateLimited = 0;
  connections = 0;
  inFlight = 0;

  /** `started`: when the server started, Unix seconds. */
  constructor(readonly started = Date.now() / 1000) {}

  request(route: string, status: number, seconds: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const s = this.seconds.get(route) ?? { sum: 0, count: 0 };
    s.sum += seconds;
    s.count += 1;
    this.seconds.set(route, s);
  }

  upload(status: string, n = 1): void {
    this.uploads.set(status, (this.uploads.get(status) ?? 0) + n);
  }

  snapshot(): MetricsSnapshot {
    return {
      requests: [...this.requests],
      seconds: [...this.seconds].map(([k, v]) => [k, { ...v }]),
      uploads: [...this.uploads],
      rateLimited: this.rateLimited,
      connections: this.connections,
      inFlight: this.inFlight,
      started: this.started,
    };
  }

  /** The counters of several processes added up (started: the earliest). */
  static sum(snapshots: readonly MetricsSnapshot[]): Metrics {
    const first = Math.min(...snapshots.map((s) => s.started));
    const m = new Metrics(Number.isFinite(first) ? first : undefined);
    for (const s of snapshots) {
      for (const [k, v] of s.requests) m.requests.set(k, (m.requests.get(k) ?? 0) + v);
      for (const [k, v] of s.seconds) {
        const t = m.seconds.get(k) ?? { sum: 0, count: 0 };
        m.seconds.set(k, { sum: t.sum + v.sum, count: t.count + v.count });
      }
      for (const [k, v] of s.uploads) m.upload(k, v);
      m.rateLimited += s.rateLimited;
      m.connections += s.connections;
      m.inFlight += s.inFlight;
    }
    return m;
  }

  /** The exposition text; `certificates` is undefined when the store did not answer. */
  format(certificates: number | undefined, version: string): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family('keyserver_http_requests_total', 'counter', 'HTTP requests answered, by route and status.');
    for (const [k, v] of this.requests) out.push(`keyserver_http_requests_total{${k}} ${v}`);
    family('keyserver_http_request_duration_seconds', 'summary', 'Time from request to the end of the answer, by route.');
    for (const [r, s] of this.seconds) {
      out.push(`keyserver_http_request_duration_seconds_sum{route="${r}"} ${s.sum.toFixed(6)}`, `keyserver_http_request_duration_seconds_count{route="${r}"} ${s.count}`);
    }
    family('keyserver_http_requests_in_flight', 'gauge', 'Requests being answered.');
    out.push(`keyserver_http_requests_in_flight ${this.inFlight}`);
    family('keyserver_http_connections', 'gauge', 'Open client connections.');
    out.push(`keyserver_http_connections ${this.connections}`);
    family('keyserver_rate_limited_total', 'counter', 'Requests refused by the per-client rate limit.');
    out.push(`keyserver_rate_limited_total ${this.rateLimited}`);
    family('keyserver_uploaded_certificates_total', 'counter', 'Uploaded certificates, by what the server did with them.');
    for (const [k, v] of this.uploads) out.push(`keyserver_uploaded_certificates_total{status="${k}"} ${v}`);
    family('keyserver_certificates', 'gauge', 'Certificates in the store (absent when the store did not answer).');
    if (certificates !== undefined) out.push(`keyserver_certificates ${certificates}`);
    family('keyserver_start_time_seconds', 'gauge', 'When the server started, Unix seconds.');
    out.push(`keyserver_start_time_seconds ${this.started.toFixed(3)}`);
    family('keyserver_build_info', 'gauge', 'The version serving.');
    out.push(`keyserver_build_info{version="${version.replace(/["\\\n]/g, '')}"} 1`);
    return `${out.join('\n')}\n`;
  }
}
