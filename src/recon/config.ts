/**
 * The Config exchange that opens every recon session (SKS reconCS.ml `handle_config`,
 * conflux `Peer.handleConfig`): both sides send a Config message, check the other's, and
 * answer with a bare string, `passed`, or `failed` and the reason. Peering needs the same
 * bitquantum, mbar and filter set, and a version of at least 0.1.5.
 */
import { EnvironmentError, InputError } from '../errors.js';
import type { ReconChannel, ReconMessage } from './wire.js';

/** The version we announce: the SKS release whose protocol we speak (Hockeypuck announces it too). */
export const SKS_VERSION = '1.1.6';

/**
 * The filters SKS 1.1.6 announces once its database has been through `sks cleandb`
 * (merged keys). A database built empty announces only `yminsky.dedup`; peers must match.
 */
export const SKS_FILTERS: readonly string[] = Object.freeze(['yminsky.dedup', 'yminsky.merge']);

/** What we announce. */
export interface LocalConfig {
  readonly version: string;
  /** Our HKP port: the peer fetches what it lacks from there (`/pks/hashquery`). */
  readonly httpPort: number;
  readonly bitQuantum: number;
  readonly mbar: number;
  /** Compared as a set (SKS `test_configdata`); sent comma-joined. */
  readonly filters: readonly string[];
}

/** What a peer announced. */
export interface PeerConfig {
  readonly version: string;
  readonly httpPort: number;
  readonly bitQuantum: number;
  readonly mbar: number;
  readonly filters: readonly string[];
  /** Entries other than the five above, as sent (Hockeypuck may add some). */
  readonly other: ReadonlyMap<string, Buffer>;
}

/** The oldest version SKS peers with (SKS common.ml `compatible_version_tuple`). */
const COMPATIBLE_VERSION = [0, 1, 5];

/** SKS marshals these as 4-byte big-endian ints inside the string value (CMarshal.int_to_string). */
const INT_KEYS = new Set(['http port', 'bitquantum', 'mbar']);

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** Our Config message; entries in key order, as SKS's map lists them. */
export function configMessage(c: LocalConfig): ReconMessage {
  const entries: [string, Buffer][] = [
    ['bitquantum', int32(c.bitQuantum)],
    ['filters', Buffer.from(c.filters.join(','), 'utf8')],
    ['http port', int32(c.httpPort)],
    ['mbar', int32(c.mbar)],
    ['version', Buffer.from(c.version, 'utf8')],
  ];
  return { type: 'Config', entries };
}

/** A parse failure, worded as the answer SKS would give. */
class ConfigProblem extends Error {}

/** The peer's config from its entries. @throws ConfigProblem with the reason to answer. */
function parsePeerConfig(entries: readonly (readonly [string, Buffer])[]): PeerConfig {
  const map = new Map(entries.map(([k, v]) => [k, v] as const));
  const need = (k: string): Buffer => {
    const v = map.get(k);
    if (v === undefined) throw new ConfigProblem('Missing entry in configdata');
    return v;
  };
  const int = (k: string): number => {
    const v = need(k);
    if (v.length !== 4) throw new ConfigProblem(`Error parsing configdata: ${k} is ${v.length} bytes, not a 4-byte int`);
    return v.readInt32BE(0);
  };
  const other = new Map([...map].filter(([k]) => !INT_KEYS.has(k) && k !== 'version' && k !== 'filters'));
  return {
    version: need('version').toString('utf8'),
    httpPort: int('http port'),
    bitQuantum: int('bitquantum'),
    mbar: int('mbar'),
    filters: splitFilters(need('filters').toString('utf8')),
    other,
  };
}

/** SKS splits on commas and drops empty pieces (Str.split). */
function splitFilters(s: string): string[] {
  return s.split(',').filter((f) => f !== '');
}

function parseVersion(v: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function versionBelow(v: number[], min: number[]): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] < min[i];
  return false;
}

/**
 * Why we would refuse `remote`, in SKS's words (they end up in the peer's log), or undefined
 * when it is compatible with `local`.
 */
export function configMismatch(local: LocalConfig, remote: PeerConfig): string | undefined {
  const v = parseVersion(remote.version);
  if (!v) return `Error parsing configdata: version ${JSON.stringify(remote.version)}`;
  if (versionBelow(v, COMPATIBLE_VERSION)) return `Requires version at least ${COMPATIBLE_VERSION.join('.')}.  ${remote.version} provided `;
  const mine = new Set(local.filters);
  const theirs = new Set(remote.filters);
  if (mine.size !== theirs.size || [...mine].some((f) => !theirs.has(f))) {
    return `filters do not match.\n\tlocal filters: [${[...local.filters].join(', ')}]\n\tremote filters: [${[...remote.filters].join(', ')}]`;
  }
  if (remote.bitQuantum !== local.bitQuantum) return 'bitquantum values do not match';
  if (remote.mbar !== local.mbar) return 'mbar values do not match';
  return undefined;
}

export interface ExchangeOptions {
  /**
   * Refuse the session with this reason whatever the peer sends (Hockeypuck answers
   * "sync not available, currently mutating" while its tree is being written).
   */
  readonly refuse?: string;
}

/**
 * Sends our Config, reads the peer's, answers `passed` or `failed` with a reason, and reads the
 * peer's answer. The same on both sides of a session. On success the channel is positioned at
 * the first recon message.
 * @throws EnvironmentError MS_RECON_CONFIG when we refused the peer's config (after telling it
 *   why; `data.reason`), MS_RECON_CONFIG_REJECTED when the peer refused ours (`data.reason`);
 *   InputError MS_RECON_PROTOCOL when the peer sends something other than a Config or an answer;
 *   the channel's read errors (MS_RECON_MALFORMED, MS_RECON_LIMIT, MS_RECON_TIMEOUT, MS_RECON_CLOSED).
 */
export async function exchangeConfig(ch: ReconChannel, local: LocalConfig, opts: ExchangeOptions = {}): Promise<PeerConfig> {
  // Written before reading, as both SKS and conflux do, so neither side waits for the other.
  const sent = ch.send([configMessage(local)]);
  let msg: ReconMessage;
  try {
    msg = await ch.read();
  } finally {
    await sent;
  }
  if (msg.type !== 'Config') {
    throw new InputError('MS_RECON_PROTOCOL', `recon peer sent ${msg.type} where its Config belongs`, { data: { msgType: msg.type } });
  }
  let remote: PeerConfig | undefined;
  let reason = opts.refuse;
  try {
    remote = parsePeerConfig(msg.entries);
  } catch (err) {
    if (!(err instanceof ConfigProblem)) throw err;
    reason ??= err.message;
  }
  if (reason === undefined && remote) reason = configMismatch(local, remote);
  if (reason !== undefined || !remote) {
    const why = reason ?? 'Missing entry in configdata';
    // SKS closes right after its "failed"; so do we, without reading the peer's answer.
    await ch.sendStrings(['failed', why]);
    throw new EnvironmentError('MS_RECON_CONFIG', `recon peer's configuration refused: ${why}`, { data: { reason: why, remote } });
  }
  await ch.sendStrings(['passed']);
  const answer = await ch.readString();
  if (answer === 'passed') return remote;
  if (answer === 'failed') {
    const why = await ch.readString();
    throw new EnvironmentError('MS_RECON_CONFIG_REJECTED', `recon peer refused our configuration: ${why}`, {
      data: { reason: why, remote },
      hints: busy(why) ? [] : ['peers must agree on bitquantum, mbar and the filters (yminsky.dedup, yminsky.merge)'],
    });
  }
  throw new InputError('MS_RECON_PROTOCOL', `recon peer answered ${JSON.stringify(answer.slice(0, 40))} to our config`, { data: { answer: answer.slice(0, 200) } });
}

/** Whether a refusal only says the peer is busy (try later), not that we disagree. */
function busy(reason: string): boolean {
  return /currently mutating|busy/i.test(reason);
}

/** Whether an error is the peer refusing us only because it is busy: try again later. */
export function isBusyRefusal(err: unknown): boolean {
  return err instanceof EnvironmentError && err.code === 'MS_RECON_CONFIG_REJECTED' && busy(String(err.data.reason));
}
