/**
 * Who is on the other end of a loopback TCP connection: the local user owning the client's
 * socket, from Linux's /proc/net/tcp, as msva-perl finds it (SO_PEERCRED gives nothing for
 * TCP). The client's socket is the row whose local address is the client's address and
 * port, and whose remote address is ours. Also: the uids that MSVA_ALLOWED_USERS names.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** `0100007F:1F90`: the IPv4 address as the kernel prints it (a little-endian word) and the port. */
export function procAddress(address: string, port: number): string | undefined {
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(address);
  if (!v4) return undefined;
  const hex = v4
    .slice(1, 5)
    .reverse()
    .map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0'))
    .join('');
  return `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The uid in the /proc/net/tcp text `table` owning the socket from `client` to `server`; undefined when no row matches. */
export function uidFromProcNetTcp(table: string, client: string, server: string): number | undefined {
  const lines = table.split('\n');
  const header = (lines[0] ?? '').trim().split(/\s+/);
  // "tx_queue rx_queue" and "tr tm->when" are one column each in the rows.
  const col = (name: string) => {
    let skip = 0;
    for (let i = 0; i < header.length; i++) {
      if (header[i] === name) return i - skip;
      if (header[i] === 'tx_queue' || header[i] === 'tr') skip++;
    }
    return -1;
  };
  const [local, remote, uid] = [col('local_address'), col('rem_address'), col('uid')];
  if (local < 0 || remote < 0 || uid < 0) return undefined;
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[local]?.toUpperCase() === client && f[remote]?.toUpperCase() === server) {
      const n = Number(f[uid]);
      return Number.isInteger(n) ? n : undefined;
    }
  }
  return undefined;
}

/**
 * The local uid owning the client end of a loopback connection; undefined when it cannot
 * be found (not IPv4, /proc unreadable, no such row).
 */
export async function peerUid(remoteAddress: string, remotePort: number, localAddress: string, localPort: number, procFile = '/proc/net/tcp'): Promise<number | undefined> {
  const client = procAddress(remoteAddress, remotePort);
  const server = procAddress(localAddress, localPort);
  if (!client || !server) return undefined;
  let table: string;
  try {
    table = await readFile(procFile, 'utf8');
  } catch {
    // Not Linux, or /proc hidden: unknown, which the caller refuses.
    return undefined;
  }
  return uidFromProcNetTcp(table, client, server);
}

/** A user name's uid from the name service (`getent passwd`); undefined when unknown. */
export function uidOfUser(name: string): number | undefined {
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$/.test(name)) return undefined;
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return undefined;
  const uid = Number(r.stdout.split(':')[2]);
  return Number.isInteger(uid) ? uid : undefined;
}

/**
 * The uids MSVA_ALLOWED_USERS names (space-separated user names or numeric uids), as
 * msva-perl reads it; `unknown` lists the names that are not users (they allow nobody).
 * Unset or empty: only `self`.
 */
export function allowedUids(value: string | undefined, self: number, lookup: (name: string) => number | undefined = uidOfUser): { uids: Set<number>; unknown: string[] } {
  if (value === undefined || value === '') return { uids: new Set([self]), unknown: [] };
  const uids = new Set<number>();
  const unknown: string[] = [];
  for (const user of value.split(/ +/).filter((u) => u !== '')) {
    const uid = /^[0-9]+$/.test(user) ? Number(user) : lookup(user);
    if (uid === undefined) unknown.push(user);
    else uids.add(uid);
  }
  return { uids, unknown };
}
