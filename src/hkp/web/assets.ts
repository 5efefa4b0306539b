/**
 * The web pages' static files: one style sheet, an icon, and a small script that only adds
 * to pages that work without it (it names what the search box will look for as one types).
 * Served under `/assets/` with a content hash in the link, so they can be cached for good.
 */
import { createHash } from 'node:crypto';

const CSS = `:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#59636e;--line:#d1d9e0;--link:#0b57d0;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--soft:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#3d444d;--link:#6cb6ff;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--soft:#161b22}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:var(--bg);padding:.25rem .5rem}
header{border-bottom:1px solid var(--line);padding:.75rem 1rem}
header nav{display:flex;gap:1rem;flex-wrap:wrap;align-items:baseline;margin-bottom:.5rem}
header nav .home{font-weight:600;margin-right:auto}
main{max-width:64rem;margin:0 auto;padding:1rem}
footer{max-width:64rem;margin:2rem auto;padding:0 1rem;color:var(--muted);font-size:.875rem}
form.search{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center}
form.search input{flex:1 1 20rem;font:inherit;padding:.4rem .5rem;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--fg)}
button,input[type=submit]{font:inherit;padding:.4rem .9rem;border:1px solid var(--line);border-radius:4px;background:var(--soft);color:var(--fg);cursor:pointer}
.hint{color:var(--muted);font-size:.875rem;min-height:1.3em;flex-basis:100%}
textarea{width:100%;min-height:12rem;font:13px/1.4 ui-monospace,monospace;background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:4px}
time{white-space:nowrap}
code,.fpr{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}
.fpr{letter-spacing:.02em}
.muted{color:var(--muted)}
.badge{display:inline-block;font-size:.75rem;line-height:1.4;padding:0 .4rem;border-radius:1em;border:1px solid currentColor;margin-left:.25rem;white-space:nowrap;vertical-align:middle}
.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}.info{color:var(--link)}.neutral{color:var(--muted)}
.cp{font:11px ui-monospace,monospace;border:1px dashed var(--bad);color:var(--bad);padding:0 2px;margin:0 1px;border-radius:2px}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.9rem}
th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid var(--line)}
th{font-weight:600}
caption{text-align:left;color:var(--muted);padding:.25rem 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
ol.results{list-style:none;padding:0}
ol.results>li{border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}
ol.results ul,ul.uids{margin:.25rem 0 0;padding-left:1.2rem}
section.uid{border-top:1px solid var(--line);padding-top:.5rem;margin-top:1rem}
section.uid h3{font-size:1.05rem;margin:.25rem 0;overflow-wrap:anywhere}
.notice{background:var(--soft);border-left:4px solid var(--line);padding:.5rem .75rem}
.notice.error{border-left-color:var(--bad)}
.actions{display:flex;gap:1rem;flex-wrap:wrap}
`;

const JS = `'use strict';
(function () {
  var input = document.getElementById('q');
  var hint = document.getElementById('q-hint');
  if (!input || !hint) return;
  function kind(v) {
    if (v === '') return '';
    if (v.charAt(0) === '=') return 'Looks for user IDs that are exactly this text.';
    var hex = v.replace(/^0x/i, '');
    var compact = hex.replace(/\\s+/g, '');
    if (/^[0-9a-f]+$/i.test(compact)) {
      if (compact.length === 40 || compact.length === 64) return 'Looks up a fingerprint.';
      if (compact === hex && (compact.length === 8 || compact.length === 16)) return 'Looks up a key ID.';
    }
    if (/^<?[^\\s<>@"]+@[^\\s<>@"]+\\.[^\\s<>@".]+>?$/.test(v)) return 'Looks for this e-mail address.';
    if (/^ssh:\\/\\//i.test(v)) return 'Looks for the host key of this SSH server (an exact user ID).';
    if (/^[a-z][a-z0-9+.-]*:\\/\\//i.test(v)) return 'Looks for user IDs that are exactly this URI.';
    if (v.length < 3) return 'Type at least 3 characters.';
    return 'Looks for user IDs containing this text.';
  }
  function update() { hint.textContent = kind(input.value.trim()); }
  input.addEventListener('input', update);
  update();
})();
`;

/** A key, drawn in the page's link colour. */
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="5" cy="8" r="3.5" fill="none" stroke="#0b57d0" stroke-width="2"/><path d="M8.5 8H15M12 8v3M14.5 8v2" stroke="#0b57d0" stroke-width="2" fill="none"/></svg>
`;

/** A static file: where it is served, its bytes and type, and the link to it. */
export interface Asset {
  path: string;
  body: Buffer;
  type: string;
  /** The path with a content-hash query, for links. */
  href: string;
}

function asset(name: string, text: string, type: string): Asset {
  const body = Buffer.from(text, 'utf8');
  const tag = createHash('sha256').update(body).digest('hex').slice(0, 12);
  const path = `/assets/${name}`;
  return { path, body, type, href: `${path}?v=${tag}` };
}

/** The one style sheet. */
export const STYLE = asset('web.css', CSS, 'text/css; charset=utf-8');
/** The search box's hint, the one script: pages work without it. */
export const SCRIPT = asset('web.js', JS, 'text/javascript; charset=utf-8');

/** The page icon (without one, browsers ask for /favicon.ico and get a 404). */
export const FAVICON = asset('icon.svg', ICON, 'image/svg+xml');

/** The static files by path. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([STYLE, SCRIPT, FAVICON].map((a) => [a.path, a]));
