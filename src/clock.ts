/**
 * The one clock. Every decision that depends on "now" (validity, expiry, the MonkeySphere
 * marker, store time stamps) takes a reference time of one type, `UnixTime`: whole
 * seconds since the epoch, the resolution of every time in OpenPGP. Commands read it here
 * once, from the test hook or the system clock, and pass it down; nothing below a command
 * reads the clock for a decision (timeouts and progress measure durations, not "now").
 */
import { UsageError } from './errors.js';

/** Whole seconds since 1970-01-01T00:00:00Z. */
export type UnixTime = number;

type Env = Record<string, string | undefined>;

/** The system clock, truncated to seconds. */
export function systemTime(): UnixTime {
  return Math.floor(Date.now() / 1000);
}

export function fromDate(d: Date): UnixTime {
  return Math.floor(d.getTime() / 1000);
}

export function toDate(t: UnixTime): Date {
  return new Date(t * 1000);
}

/**
 * A time as users write it: Unix seconds (`1673740800`), ISO 8601 (`2023-01-15`,
 * `2023-01-15T00:00:00Z`), or gpg's `--faked-system-time` form (`20230115T000000`, UTC).
 * A date without a zone is UTC, as gpg reads it. Undefined when it is none of these.
 */
export function parseTime(text: string): UnixTime | undefined {
  const s = text.trim();
  if (/^\d+$/.test(s)) return Number(s);
  const m =
    /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})!?$/.exec(s) ??
    /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h = 0, mi = 0, se = 0] = m.slice(1, 7).map((x) => (x === undefined ? undefined : Number(x))) as number[];
  // Out-of-range fields are refused, not carried into the next month as Date.UTC would.
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return undefined;
  const ms = Date.UTC(y, mo - 1, d, h, mi, se);
  if (new Date(ms).getUTCDate() !== d) return undefined;
  // A time without a zone is UTC, as gpg reads it.
  const zone = m[7];
  const offset = zone === undefined || zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2)));
  return Math.floor(ms / 1000) - offset * 60;
}

/**
 * The reference time of a command: `MONKEYSPHERE_TEST_NOW` when set (the test hook, read
 * nowhere else; it freezes expiry, so never set it on a real system), else the clock.
 * @throws UsageError (MS_TEST_NOW) when the variable is set but is not a time.
 */
export function referenceTime(env: Env, clock: () => UnixTime = systemTime): UnixTime {
  const raw = env.MONKEYSPHERE_TEST_NOW;
  if (raw === undefined || raw === '') return clock();
  const t = parseTime(raw);
  if (t === undefined) {
    throw new UsageError('MS_TEST_NOW', `MONKEYSPHERE_TEST_NOW is not a time: ${JSON.stringify(raw)}`, {
      hints: ['use an ISO 8601 time such as 2023-01-15T00:00:00Z, or Unix seconds'],
    });
  }
  return t;
}

/** The UTC date of a time, `YYYY-MM-DD`, as listings print it. */
export function isoDate(t: UnixTime): string {
  return toDate(t).toISOString().slice(0, 10);
}
