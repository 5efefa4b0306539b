/** Key expiry as the host tool takes it: gpg's `0`, `<n>`, `<n>w`, `<n>m`, `<n>y`. */
import { UsageError } from '../errors.js';

export const EXPIRE_HELP = `Must specify expiration.  The possibilities are:
      0 = key does not expire
   <n>  = key expires in n days
   <n>w = key expires in n weeks
   <n>m = key expires in n months
   <n>y = key expires in n years`;

/**
 * gpg's expiry arithmetic: n days, weeks (7), months (30) or years (365) from now; 0 never.
 * @throws UsageError (MS_HOST_EXPIRE)
 */
export function parseExpire(spec: string, now: number): number | undefined {
  const m = /^([0-9]+)([wmy]?)$/.exec(spec);
  if (!m) throw new UsageError('MS_HOST_EXPIRE', `Invalid expiration ${JSON.stringify(spec)}`, { hints: EXPIRE_HELP.split('\n').slice(1).map((l) => l.trim()) });
  const n = Number(m[1]);
  if (n === 0) return undefined;
  const days = n * ({ '': 1, w: 7, m: 30, y: 365 } as Record<string, number>)[m[2]];
  return now + days * 86400;
}
