/**
 * The pages, as pure functions from views to HTML: the layout (search box in every page),
 * home, results, key page, upload form and report, stats, and errors. Every value from a
 * certificate or a request goes through `html` (escaped) or `showText` (escaped, hidden
 * characters shown); nothing here reads the store or the clock.
 */
import type { Revocation, Status } from '../../cert/types.js';
import { isoDate, toDate, type UnixTime } from '../../clock.js';
import { formatFingerprint, keyIdOf as keyIdOfFpr } from '../../openpgp/fingerprint.js';
import { FAVICON, SCRIPT, STYLE } from './assets.js';
import type { CertOutcome, SubmitReport } from './contract.js';
import { signatureClass } from './describe.js';
import { codePointLabel, hasHiddenCharacters, html, mixedScripts, plainText, queryValue, raw, type SafeHtml, showText } from './html.js';
import type { CertificationView, KeyView, SubkeyView, SummaryView, UserIdView } from './key-view.js';
import { describeQuery, MAX_QUERY_LENGTH, type Query } from './query.js';

/** The name in every title and in the header. */
export const SITE_NAME = 'Monkeysphere keyserver';

/** What differs between pages in the shell. */
export interface LayoutOptions {
  title: string;
  /** The query to show in the search box. */
  query?: string;
  /** Put the focus in the search box (the home page). */
  focusSearch?: boolean;
}

/** The page shell: head, navigation, the search box, main content, footer. */
export function layout(opts: LayoutOptions, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${plainText(opts.title)} · ${SITE_NAME}</title>
<link rel="stylesheet" href="${STYLE.href}">
<link rel="icon" href="${FAVICON.href}" type="image/svg+xml">
<script src="${SCRIPT.href}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<nav aria-label="Site">
<a class="home" href="/">${SITE_NAME}</a>
<a href="/upload">Upload a key</a>
<a href="/stats">Statistics</a>
</nav>
<form class="search" role="search" action="/search" method="get">
<label for="q">Search keys</label>
<input id="q" name="q" type="search" value="${opts.query ?? ''}" maxlength="${MAX_QUERY_LENGTH}" autocomplete="off" spellcheck="false" ${opts.focusSearch ? raw(' aria-describedby="q-help" autofocus') : ''}>
<button type="submit">Search</button>
<output id="q-hint" class="hint" for="q" aria-live="polite"></output>
</form>
</header>
<main id="main">
${body}
</main>
<footer>
<p>This keyserver checks that what it stores is self-consistent: every signature on a certificate is verified, and third-party certifications are published only when their issuer is known here or the key holder attested them. It does not check who owns a key: trust comes from the web of trust.</p>
</footer>
</body>
</html>
`.value;
}

const STATUS_CLASS: Readonly<Record<Status, string>> = { valid: 'ok', expired: 'warn', revoked: 'bad', invalid: 'bad' };

/** `1 subkey`, `2 subkeys`. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A badge: `text` is always our own words; `title` may quote a certificate. */
function badge(text: string, cls: string, title?: string): SafeHtml {
  return title ? html`<span class="badge ${cls}" title="${plainText(title)}">${text}</span>` : html`<span class="badge ${cls}">${text}</span>`;
}

function statusBadge(status: Status, what = ''): SafeHtml {
  return badge(status === 'invalid' ? 'not bound' : status, STATUS_CLASS[status], what ? `${what} is ${status}` : undefined);
}

function time(t: UnixTime | undefined): SafeHtml {
  if (t === undefined) return html`<span class="muted">never</span>`;
  return html`<time datetime="${toDate(t).toISOString()}">${isoDate(t)}</time>`;
}

function fingerprint(fpr: string): SafeHtml {
  return html`<code class="fpr">${formatFingerprint(fpr)}</code>`;
}

function keyLink(fpr: string, label: SafeHtml | string): SafeHtml {
  return html`<a href="/key/${fpr}">${label}</a>`;
}

/** Badges that warn about a user ID's text: hidden characters, mixed scripts. */
function textWarnings(text: string): SafeHtml[] {
  const out: SafeHtml[] = [];
  const mixed = mixedScripts(text);
  if (mixed.length > 0) out.push(badge(`mixed scripts: ${mixed.join(' + ')}`, 'warn', 'letters from scripts that look alike are mixed in one word: check it character by character'));
  if (hasHiddenCharacters(text)) out.push(badge('hidden characters', 'warn', 'invisible or control characters, shown as U+XXXX marks'));
  return out;
}

/** What a Monkeysphere user ID names: an SSH host (`ssh://host[:port]`) or a TLS service (`https://host`). */
function serviceBadge(text: string): SafeHtml | '' {
  if (/^ssh:\/\/[^\s/]+$/.test(text)) return badge('SSH host', 'info', 'the key an SSH server publishes for this host name');
  if (/^https:\/\/[^\s/]+\/?$/.test(text)) return badge('TLS service', 'info', 'the key a TLS service publishes for this host name');
  return '';
}

/** Characters of a user ID shown; the rest are counted (a user ID may be 64 KiB). */
export const USER_ID_SHOWN = 256;

/** At most `max` characters of `text`, shown with `showText`, and "…" when it was longer. */
function clipped(text: string, max = USER_ID_SHOWN): SafeHtml {
  const chars = [...text];
  return chars.length > max ? html`${showText(chars.slice(0, max).join(''))}…` : showText(text);
}

/** A user ID as shown: visible marks for hidden characters, badges, and the non-ASCII code points on hover. */
function userIdText(text: string): SafeHtml {
  const chars = [...text];
  const nonAscii = [...new Set(chars.filter((c) => c.codePointAt(0)! > 0x7e))];
  const listed = nonAscii.slice(0, 32).map((c) => codePointLabel(c.codePointAt(0)!));
  const title = nonAscii.length > 0 ? `non-ASCII characters: ${listed.join(' ')}${nonAscii.length > listed.length ? ' …' : ''}` : undefined;
  const cut = chars.length > USER_ID_SHOWN ? html`<span class="muted"> … (${chars.length} characters in all)</span>` : '';
  const body = showText(chars.slice(0, USER_ID_SHOWN).join(''));
  const shown = title ? html`<span class="uid-text" title="${title}">${body}${cut}</span>` : html`<span class="uid-text">${body}${cut}</span>`;
  return html`${shown}${serviceBadge(text)}${textWarnings(text)}`;
}

function revocationNote(r: Revocation | undefined): SafeHtml | string {
  if (!r) return '';
  const reason = r.reason && (r.reason.text || r.reason.code) ? html`: ${clipped(r.reason.text || `reason ${r.reason.code}`)}` : '';
  return html`<span class="muted">revoked ${time(r.time)}${reason}</span>`;
}

/** `/`: the search box, and what it takes. */
export function homePage(): string {
  return layout(
    { title: 'Search', focusSearch: true },
    html`<h1>Find an OpenPGP key</h1>
<p id="q-help">Search by e-mail address (<code>alice@example.org</code>), by name or any text in a user ID, by key ID (<code>0x0123456789ABCDEF</code>), by fingerprint, or by the host an SSH server publishes its key for (<code>ssh://host.example.org</code>). Start with <code>=</code> to match a user ID exactly.</p>
<h2>For software</h2>
<ul>
<li>HKP, as GnuPG speaks it (<code>gpg --keyserver hkp://this-host</code>): <code>GET /pks/lookup?op=get|index|vindex&amp;search=…&amp;options=mr</code>, <code>POST /pks/add</code> (form field <code>keytext</code>).</li>
<li>HKP v2 reads: <code>/pks/v2/certs/by-vfingerprint/…</code>, <code>/pks/v2/certs/by-keyid/…</code>, <code>/pks/v2/certs/by-identity/…</code>, <code>/pks/v2/index/…</code>.</li>
<li>keys.openpgp.org's VKS: <code>/vks/v1/by-fingerprint/…</code>, <code>/vks/v1/by-keyid/…</code>, <code>/vks/v1/by-email/…</code>, <code>POST /vks/v1/upload</code>.</li>
<li>Web Key Directory: <code>/.well-known/openpgpkey/…</code>; health: <code>/pks/health</code>; metrics: <code>/metrics</code>.</li>
</ul>`,
  );
}

/** A search: what was typed, how it was read, the rows, and whether more matched. */
export interface ResultsModel {
  input: string;
  query: Query;
  rows: SummaryView[];
  more: boolean;
  limit: number;
}

function summaryRow(r: SummaryView): SafeHtml {
  const uids = r.userIds.map((u) => html`<li>${userIdText(u.text)}${u.primary ? badge('primary', 'info') : ''}${u.status !== 'valid' ? statusBadge(u.status, 'this user ID') : ''}</li>`);
  const hidden = r.userIdsHidden > 0 ? html`<li class="muted">and ${count(r.userIdsHidden, 'more user ID')}</li>` : '';
  return html`<li>
<div>${keyLink(r.fpr, fingerprint(r.fpr))}${r.status !== 'valid' ? statusBadge(r.status, 'the key') : ''}</div>
<div class="muted">${r.algorithm} · created ${time(r.created)}${r.expires !== undefined ? html` · expires ${time(r.expires)}` : ''} · ${count(r.subkeyCount, 'subkey')}</div>
<ul>${uids}${hidden}</ul>
</li>`;
}

/** `/search`: what was looked for, the rows, and a note when more matched than are listed. */
export function resultsPage(m: ResultsModel): string {
  const n = m.rows.length;
  const what = m.query.kind === 'email' ? m.query.address : m.query.kind === 'exact' || m.query.kind === 'text' ? m.query.text : m.query.kind === 'fingerprint' || m.query.kind === 'keyid' ? m.query.hex : m.input;
  const heading = html`<h1>Results</h1><p>${n === 0 ? 'No certificates' : n === 1 ? '1 certificate' : `${n} certificates`} for ${describeQuery(m.query)} <strong>${showText(what)}</strong>.</p>`;
  const more = m.more ? html`<p class="notice" role="status">More than ${m.limit} certificates match; the first ${m.limit} are listed. Refine the search to see others.</p>` : '';
  const list = n > 0 ? html`<ol class="results">${m.rows.map(summaryRow)}</ol>` : '';
  return layout({ title: `Search: ${m.input}`, query: m.input }, html`${heading}${more}${list}`);
}

function verification(c: CertificationView, now: UnixTime): SafeHtml {
  const out: SafeHtml[] = [];
  switch (c.outcome) {
    case 'good':
      out.push(badge('verified', 'ok', 'the issuer is on this server and the signature checks'));
      break;
    case 'no-key':
      out.push(badge('issuer unknown', 'neutral', 'the issuer is not on this server, so the signature could not be checked'));
      break;
    case 'unchecked':
      out.push(badge('not checked', 'neutral'));
      break;
    case 'bad':
      out.push(badge('bad signature', 'bad', c.reason));
      break;
    case 'rejected':
      out.push(badge('rejected', 'bad', c.reason));
      break;
    case 'unsupported':
      out.push(badge('unsupported', 'warn', c.reason));
      break;
  }
  if (c.attested) out.push(badge('attested', 'info', 'the key holder attested this certification (first-party attested third-party certification)'));
  if (c.revokedByIssuer) out.push(badge('withdrawn', 'warn', 'the issuer revoked this certification later'));
  if (c.expires !== undefined && c.expires <= now) out.push(badge('expired', 'warn'));
  if (c.issuerStatus && c.issuerStatus !== 'valid') out.push(badge(`issuer ${c.issuerStatus === 'invalid' ? 'not bound' : c.issuerStatus}`, STATUS_CLASS[c.issuerStatus]));
  // The badge says bad or unsupported; a policy rejection needs its reason (SHA-1 after the cut-off, say).
  const reason = c.reason && c.outcome === 'rejected' ? html` <span class="muted">${showText(c.reason)}</span>` : '';
  return html`${out}${reason}`;
}

function issuerCell(c: CertificationView): SafeHtml {
  const id = html`<code>0x${c.issuerKeyId}</code>`;
  if (c.issuerOnServer && c.issuerFpr) {
    return html`${keyLink(c.issuerFpr, id)}${c.issuerName !== undefined ? html`<br>${userIdText(c.issuerName)}` : ''}`;
  }
  return html`${id}<br><span class="muted">not on this server</span>`;
}

function certificationExtras(c: CertificationView): SafeHtml {
  const parts: SafeHtml[] = [];
  if (c.trust && c.trust.level > 0) parts.push(html`<br><span class="muted">trust signature: depth ${c.trust.level}, amount ${c.trust.amount}</span>`);
  for (const re of c.regexes.slice(0, 8)) parts.push(html`<br><span class="muted">scope: <code>${clipped(re)}</code></span>`);
  if (!c.exportable) parts.push(html`<br><span class="muted">local (not exportable)</span>`);
  return html`${parts}`;
}

function certificationTable(u: UserIdView, now: UnixTime, n: number): SafeHtml {
  if (u.certificationCount === 0) return html`<p class="muted">No third-party certifications.</p>`;
  const rows = u.certifications.map(
    (c) => html`<tr>
<td>${issuerCell(c)}</td>
<td>${signatureClass(c.type)}${certificationExtras(c)}</td>
<td>${time(c.created)}</td>
<td>${c.expires !== undefined ? time(c.expires) : html`<span class="muted">never</span>`}</td>
<td>${verification(c, now)}</td>
</tr>`,
  );
  const rest = u.certificationCount - u.certifications.length;
  const restNote =
    rest > 0
      ? html`<p class="muted">${rest} more ${rest === 1 ? 'certification is' : 'certifications are'} not listed${u.notExamined > 0 ? html` (${u.notExamined} not examined)` : ''}; download the key to see them all.</p>`
      : '';
  return html`<table>
<caption id="certs-${n}">Third-party certifications: ${u.certificationCount} (${u.verifiedCount} verified, ${u.attestedCount} attested)</caption>
<thead><tr><th scope="col">Issuer</th><th scope="col">Class</th><th scope="col">Made</th><th scope="col">Expires</th><th scope="col">Verification</th></tr></thead>
<tbody>${rows}</tbody>
</table>${restNote}`;
}

function userIdSection(u: UserIdView, now: UnixTime, n: number): SafeHtml {
  const title = u.kind === 'userid' ? userIdText(u.text) : html`<span class="muted">User attribute (${u.size} bytes, usually a photo)</span>`;
  const self =
    u.selfSigned !== undefined
      ? html`<p class="muted">Self-signed ${time(u.selfSigned)}${u.expires !== undefined ? html`, expires ${time(u.expires)}` : ''}. ${revocationNote(u.revocation)}</p>`
      : html`<p class="muted">No valid self-signature: not bound to the key.</p>`;
  return html`<section class="uid" aria-labelledby="uid-${n}">
<h3 id="uid-${n}">${title}${u.primary ? badge('primary', 'info') : ''}${statusBadge(u.status, 'this user ID')}</h3>
${self}
${certificationTable(u, now, n)}
</section>`;
}

function subkeyRows(subkeys: SubkeyView[]): SafeHtml {
  return html`${subkeys.map(
    (s) => html`<tr>
<td><code>0x${s.keyId}</code><br>${fingerprint(s.fpr)}</td>
<td>${showText(s.algorithm)}</td>
<td>${s.capabilities.length > 0 ? s.capabilities.join(', ') : html`<span class="muted">none</span>`}</td>
<td>${time(s.created)}</td>
<td>${time(s.expires)}</td>
<td>${statusBadge(s.status, 'this subkey')}${s.revocation ? html`<br>${revocationNote(s.revocation)}` : ''}${s.problems.map((p) => html`<br><span class="muted">${showText(p)}</span>`)}</td>
</tr>`,
  )}`;
}

/** `/key/<fingerprint>`: the key, its user IDs with their certifications, its subkeys. */
export function keyPage(v: KeyView): string {
  const facts = html`<dl class="facts">
<dt>Fingerprint</dt><dd>${fingerprint(v.fpr)}</dd>
<dt>Key ID</dt><dd><code>0x${v.keyId}</code></dd>
<dt>Algorithm</dt><dd>${showText(v.algorithm)} <span class="muted">(version ${v.version} key)</span></dd>
<dt>Created</dt><dd>${time(v.created)}</dd>
<dt>Expires</dt><dd>${time(v.expires)}</dd>
<dt>Capabilities</dt><dd>${v.capabilities.join(', ')}</dd>
<dt>Status</dt><dd>${statusBadge(v.status, 'the key')} ${revocationNote(v.revocation)}${v.revocation && v.revocation.by !== v.fpr ? html` <span class="muted">by the designated revoker</span> ${keyLink(v.revocation.by, fingerprint(v.revocation.by))}` : ''}${v.problems.map((p) => html` <span class="muted">${showText(p)}</span>`)}</dd>
<dt>On this server</dt><dd>since ${time(v.stored.created)}, last changed ${time(v.stored.updated)}, ${v.size} bytes</dd>
${v.revokers.length > 0 ? html`<dt>Designated revokers</dt><dd>${v.revokers.map((r, i) => html`${i > 0 ? ', ' : ''}${r.onServer ? keyLink(r.fpr, fingerprint(r.fpr)) : fingerprint(r.fpr)}${r.onServer ? '' : html` <span class="muted">(not on this server)</span>`}`)}</dd>` : ''}
${v.held > 0 ? html`<dt>Held aside</dt><dd>${count(v.held, 'certification')} by issuers not on this server: not served, and published when the issuer's key arrives</dd>` : ''}
</dl>`;
  const actions = html`<p class="actions"><a href="/key/${v.fpr}.asc" download="${v.fpr}.asc">Download the key (.asc)</a> <a href="/pks/lookup?op=vindex&amp;search=0x${v.fpr}">Signature index (plain text)</a></p>`;
  const uids = v.userIds.map((u, i) => userIdSection(u, v.now, i + 1));
  const uidsHidden = v.userIdsHidden > 0 ? html`<p class="muted">${count(v.userIdsHidden, 'more user ID')} not listed.</p>` : '';
  const subs =
    v.subkeys.length > 0
      ? html`<table>
<thead><tr><th scope="col">Key</th><th scope="col">Algorithm</th><th scope="col">Capabilities</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Status</th></tr></thead>
<tbody>${subkeyRows(v.subkeys)}</tbody>
</table>${v.subkeysHidden > 0 ? html`<p class="muted">${count(v.subkeysHidden, 'more subkey')} not listed.</p>` : ''}`
      : html`<p class="muted">No subkeys.</p>`;
  const certified =
    v.certified.length > 0
      ? html`<ul class="uids">${v.certified.map((c) => html`<li>${keyLink(c.fpr, html`<code>0x${keyIdOfFpr(c.fpr)}</code>`)} ${c.userId !== undefined ? userIdText(c.userId) : ''}${c.trust ? badge('trust signature', 'info', 'this key made a trust signature on it: it introduces others') : ''}</li>`)}</ul>${v.certifiedMore > 0 ? html`<p class="muted">and ${count(v.certifiedMore, 'more key')}.</p>` : ''}`
      : html`<p class="muted">None on this server.</p>`;
  const body = html`<h1>Key <code>0x${v.keyId}</code>${v.status !== 'valid' ? statusBadge(v.status, 'the key') : ''}</h1>
${facts}
${actions}
<h2>User IDs (${v.userIds.length + v.userIdsHidden})</h2>
${uids}${uidsHidden}
<h2>Subkeys (${v.subkeys.length + v.subkeysHidden})</h2>
${subs}
<h2>Keys it certified</h2>
<p class="muted">Keys here that carry a certification naming this key as issuer; each key's page says whether it verifies.</p>
${certified}`;
  return layout({ title: `Key 0x${v.keyId}` }, body);
}

/** The upload form's text field, named as HKP's `/pks/add` names it. */
export const UPLOAD_FIELD = 'keytext';
/** The upload form's file field. */
export const UPLOAD_FILE_FIELD = 'keyfile';

function uploadForm(): SafeHtml {
  return html`<form action="/upload" method="post" enctype="multipart/form-data">
<p><label for="keytext">Paste an ASCII-armored public key (several may follow one another)</label></p>
<textarea id="${UPLOAD_FIELD}" name="${UPLOAD_FIELD}" spellcheck="false" autocomplete="off" placeholder="-----BEGIN PGP PUBLIC KEY BLOCK-----"></textarea>
<p><label for="${UPLOAD_FILE_FIELD}">or choose a key file (armored or binary)</label>
<input id="${UPLOAD_FILE_FIELD}" name="${UPLOAD_FILE_FIELD}" type="file" accept=".asc,.gpg,.pgp,.key,application/pgp-keys"></p>
<p><button type="submit">Upload</button></p>
</form>`;
}

/** `/upload`: the form (a pasted key, a key file, or both). */
export function uploadPage(): string {
  return layout(
    { title: 'Upload a key' },
    html`<h1>Upload a key</h1>
<p>Upload public keys, new certifications or revocations. What is uploaded is merged into what the server holds: every signature is verified, and only what is bound to its key is kept. Third-party certifications whose issuer is not on the server are held aside until the issuer arrives.</p>
${uploadForm()}`,
  );
}

const STATUS_WORDS: Readonly<Record<CertOutcome['status'], [string, string]>> = {
  inserted: ['new', 'ok'],
  updated: ['updated', 'ok'],
  unchanged: ['unchanged', 'neutral'],
  blocked: ['blocked', 'bad'],
  'rate-limited': ['rate limited', 'warn'],
  rejected: ['rejected', 'bad'],
};

function outcomeItem(o: CertOutcome): SafeHtml {
  const [word, cls] = STATUS_WORDS[o.status] ?? [o.status, 'neutral'];
  const dropped = Object.entries(o.dropped).filter(([, n]) => n > 0);
  const droppedList =
    dropped.length > 0
      ? html`<table><caption>Dropped</caption><thead><tr><th scope="col">Reason</th><th scope="col">Count</th></tr></thead><tbody>${dropped.map(([why, n]) => html`<tr><td>${showText(why)}</td><td>${n}</td></tr>`)}</tbody></table>`
      : html`<p class="muted">Nothing dropped.</p>`;
  const stored = o.status === 'inserted' || o.status === 'updated' || o.status === 'unchanged';
  return html`<li>
<div>${stored ? keyLink(o.fpr, fingerprint(o.fpr)) : fingerprint(o.fpr)}${badge(word, cls)}</div>
<ul class="uids">${o.userIds.map((u) => html`<li>${userIdText(u)}</li>`)}</ul>
<p>Added: ${count(o.kept.userIds, 'user ID')}, ${count(o.kept.subkeys, 'subkey')}, ${count(o.kept.certifications, 'third-party certification')}.</p>
${o.held > 0 ? html`<p>Held aside: ${count(o.held, 'certification')} by issuers not on this server, published when their keys arrive.</p>` : ''}
${o.released > 0 ? html`<p>Released: ${count(o.released, 'held certification')} on other keys, made by this key, verified and published.</p>` : ''}
${droppedList}
</li>`;
}

/** The report of an upload; `problem` says what part of it was refused, when one was. */
export function uploadReportPage(report: SubmitReport, problem?: string): string {
  const counts = new Map<string, number>();
  for (const c of report.certs) counts.set(c.status, (counts.get(c.status) ?? 0) + 1);
  const summary = [...counts].map(([s, n]) => `${n} ${STATUS_WORDS[s as CertOutcome['status']]?.[0] ?? s}`).join(', ');
  const n = report.certs.length;
  const body = html`<h1>Upload report</h1>
<p role="status">${n === 0 ? 'No certificates found in the upload.' : html`${n === 1 ? '1 certificate' : `${n} certificates`}: ${summary}.`}</p>
${problem ? html`<p class="notice error" role="alert">${showText(problem)}</p>` : ''}
<ol class="results">${report.certs.map(outcomeItem)}</ol>
<h2>Upload another</h2>
${uploadForm()}`;
  return layout({ title: 'Upload report' }, body);
}

/** The statistics page: count, the change feed's position, the latest changes with a user ID each. */
export interface StatsModel {
  count: number;
  latest: number;
  now: UnixTime;
  changes: Array<{ seq: number; fpr: string; at: UnixTime; kind: 'new' | 'updated' | 'deleted'; userId?: string; present: boolean }>;
  /** The recon peers of every recon process on this store (src/server/recon-status.ts), and refused digests by reason. */
  recon?: { peers: Array<{ instance: string; peer: string; sessions: number; failures: number; busy?: number; fetched: number; sent: number; refused: number; skipped: number; lastSync?: UnixTime; lastError?: string; lastErrorAt?: UnixTime }>;
    refused: Record<string, number>;
    /** The newest refusals: which digest, why, when, the certificate when known, and which peer offered it. */
    recent: Array<{ digest: string; reason: string; at: UnixTime; fpr?: string; peer?: string }>;
  };
}

/** The recon section of `/stats`: one row per peer, what was exchanged, the last error. */
function reconSection(r: NonNullable<StatsModel['recon']>): ReturnType<typeof html> {
  const rows = r.peers.map(
    (p) => html`<tr>
<td>${p.peer}</td><td class="muted">${p.instance}</td>
<td>${p.lastSync !== undefined ? time(p.lastSync) : html`<span class="muted">never</span>`}</td>
<td>${p.sessions}${p.failures > 0 ? html` <span class="muted">(${p.failures} failed)</span>` : ''}${p.busy ? html` <span class="muted">(${p.busy} skipped: busy)</span>` : ''}</td>
<td>${p.fetched}</td><td>${p.sent}</td><td>${p.refused}</td>
<td>${p.lastError !== undefined ? html`${p.lastErrorAt !== undefined ? time(p.lastErrorAt) : ''} ${clipped(p.lastError, 200)}` : html`<span class="muted">—</span>`}</td>
</tr>`,
  );
  const refused = Object.entries(r.refused);
  const recent = r.recent.map(
    (x) => html`<tr><td>${time(x.at)}</td><td>${x.reason}</td><td>${x.fpr ? keyLink(x.fpr, fingerprint(x.fpr)) : html`<code>${x.digest}</code>`}</td><td>${x.peer ?? ''}</td></tr>`,
  );
  return html`<h2>Synchronisation (recon)</h2>
<table id="recon-peers"><caption>Peers</caption>
<thead><tr><th scope="col">Peer</th><th scope="col">Our recon address</th><th scope="col">Last sync</th><th scope="col">Sessions</th><th scope="col">Keys fetched</th><th scope="col"><abbr title="What the peer lacked that we learnt of: all of it when we connected, part when it did (it fetches from us)">Keys it lacked</abbr></th><th scope="col">Refused</th><th scope="col">Last error</th></tr></thead>
<tbody>${rows}</tbody></table>
${refused.length > 0 ? html`<p>Digests offered by peers and refused (not fetched again until they expire): ${refused.map(([k, v], i) => html`${i > 0 ? ', ' : ''}${v} ${k}`)}.</p>` : ''}
${
  recent.length > 0
    ? html`<table id="recon-refused"><caption>The ${recent.length} most recent refusals</caption>
<thead><tr><th scope="col">When</th><th scope="col">Why</th><th scope="col">Key (or digest)</th><th scope="col">Offered by</th></tr></thead>
<tbody>${recent}</tbody></table>`
    : ''
}`;
}

/** `/stats`: how many certificates, and the latest changes. */
export function statsPage(m: StatsModel): string {
  const rows = m.changes.map(
    (c) => html`<tr>
<td>${time(c.at)} <span class="muted">${toDate(c.at).toISOString().slice(11, 19)}</span></td>
<td>${c.kind}</td>
<td>${c.present ? keyLink(c.fpr, fingerprint(c.fpr)) : fingerprint(c.fpr)}</td>
<td>${c.userId !== undefined ? userIdText(c.userId) : html`<span class="muted">—</span>`}</td>
</tr>`,
  );
  const table =
    rows.length > 0
      ? html`<table><caption>The ${rows.length} most recent changes, newest first</caption>
<thead><tr><th scope="col">When (UTC)</th><th scope="col">Change</th><th scope="col">Key</th><th scope="col">User ID</th></tr></thead>
<tbody>${rows}</tbody></table>`
      : html`<p class="muted">No changes yet.</p>`;
  return layout(
    { title: 'Statistics' },
    html`<h1>Statistics</h1>
<dl class="facts">
<dt>Certificates</dt><dd id="cert-count">${m.count}</dd>
<dt>Changes so far</dt><dd>${m.latest}</dd>
<dt>Server time</dt><dd>${time(m.now)}</dd>
</dl>
<h2>Recent changes</h2>
${table}
${m.recon && m.recon.peers.length > 0 ? reconSection(m.recon) : ''}`,
  );
}

/** A refusal or failure: `title` and `message` are shown as text (hidden characters marked). */
export function errorPage(title: string, message: string, query?: string): string {
  return layout({ title, query }, html`<h1>${clipped(title)}</h1><p class="notice error" role="alert">${clipped(message, 1024)}</p><p><a href="/">Search again</a></p>`);
}

/** The link to a search for `text`. */
export function searchHref(text: string): string {
  return `/search?q=${queryValue(text)}`;
}
