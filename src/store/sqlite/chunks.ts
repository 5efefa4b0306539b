/** Lists of keys bound to one `IN (...)` statement. */

/** Keys per IN (...) statement: under SQLite's variable limit, big enough to amortize each call. */
export const CHUNK = 512;

/**
 * `values` padded with repeats of its first to a power of two (IN is a set: repeats add
 * nothing), so a handful of prepared statements serves every size.
 */
export function padded<T>(values: T[]): T[] {
  let size = 1;
  while (size < values.length) size *= 2;
  while (values.length < size) values.push(values[0]);
  return values;
}
