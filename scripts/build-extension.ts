/**
 * Builds the Firefox extension (extension/) into dist/extension/ and packages it as
 * dist/monkeysphere.xpi: type-checks extension/src with its own tsconfig (DOM, no Node),
 * bundles each page's script with esbuild, copies the manifest, pages and icons, and writes
 * a zip (stored, not compressed: an .xpi is a zip, and this needs no zip tool). The archive
 * is reproducible: fixed entry order and timestamps.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const SRC = join(ROOT, 'extension');
const OUT = join(ROOT, 'dist', 'extension');
const XPI = join(ROOT, 'dist', 'monkeysphere.xpi');
const ENTRIES = ['background', 'popup', 'options', 'blocked'];
const STATIC = ['manifest.json', 'popup.html', 'options.html', 'blocked.html', 'style.css', 'icons'];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip archive of stored entries (APPNOTE 6.3.x §4.3): local headers, data, central directory. */
export function storedZip(files: { name: string; data: Buffer }[]): Buffer {
  // 1980-01-01 00:00, the earliest DOS date: the same bytes on every build.
  const DOS_TIME = 0;
  const DOS_DATE = (0 << 9) | (1 << 5) | 1;
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const crc = crc32(f.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4); // version needed: 1.0
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(f.data.length, 18);
    local.writeUInt32LE(f.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, 2.0
    dir.writeUInt16LE(10, 6);
    dir.writeUInt16LE(0x0800, 8);
    dir.writeUInt16LE(0, 10);
    dir.writeUInt16LE(DOS_TIME, 12);
    dir.writeUInt16LE(DOS_DATE, 14);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(f.data.length, 20);
    dir.writeUInt32LE(f.data.length, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: a regular file, 0644
    dir.writeUInt32LE(offset, 42);
    parts.push(local, name, f.data);
    central.push(dir, name);
    offset += local.length + name.length + f.data.length;
  }
  const dirBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(dirBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, dirBytes, end]);
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

/** Builds dist/extension/ and dist/monkeysphere.xpi; returns the .xpi's path. @throws when esbuild fails. */
export async function buildExtension(opts: { typecheck?: boolean } = {}): Promise<{ xpi: string; dir: string; typed: boolean }> {
  let typed = true;
  if (opts.typecheck !== false) {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(SRC, 'tsconfig.json')], { encoding: 'utf8' });
    typed = tsc.status === 0;
    if (!typed) process.stderr.write(`build-extension: tsc reported errors:\n${tsc.stdout}${tsc.stderr}`);
  }
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  await build({
    entryPoints: ENTRIES.map((n) => ({ in: join(SRC, 'src', `${n}.ts`), out: n })),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'firefox115',
    outdir: OUT,
    logLevel: 'warning',
    legalComments: 'none',
  });
  for (const s of STATIC) {
    for (const f of statSync(join(SRC, s)).isDirectory() ? walk(join(SRC, s)) : [join(SRC, s)]) {
      const to = join(OUT, relative(SRC, f));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(f, to);
    }
  }
  // manifest.json first, as AMO's tools like it; then the rest in name order.
  const files = walk(OUT)
    .map((p) => relative(OUT, p))
    .sort((a, b) => (a === 'manifest.json' ? -1 : b === 'manifest.json' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  writeFileSync(XPI, storedZip(files.map((name) => ({ name, data: readFileSync(join(OUT, name)) }))));
  return { xpi: XPI, dir: OUT, typed };
}

async function main(): Promise<number> {
  try {
    const { xpi, typed } = await buildExtension();
    process.stderr.write(`build-extension: ${relative(process.cwd(), xpi)} written (${statSync(xpi).size} bytes)\n`);
    return typed ? 0 : 1;
  } catch (err) {
    process.stderr.write(`build-extension: error: ${(err as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) process.exitCode = await main();
