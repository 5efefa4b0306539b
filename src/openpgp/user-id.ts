/**
 * The e-mail address in a user ID, the one rule every lookup by address uses (HKP's exact
 * search, HKP v2 and VKS by e-mail, WKD, the store's address index), so they agree on which
 * certificates an address finds.
 */

/**
 * The address of a user ID: the text in its last `<…>` when the user ID ends there, or the
 * whole user ID when it is a bare address. No whitespace or angle brackets inside, one `@`
 * with text on both sides; undefined when there is none (`ssh://host`, a bare name).
 */
export function addressOf(userId: string): string | undefined {
  const m = /<([^<>\s@]+@[^<>\s@]+)>\s*$/.exec(userId) ?? /^([^<>\s@]+@[^<>\s@]+)$/.exec(userId.trim());
  return m?.[1];
}

/** An address as the address index compares it: `toLowerCase()`, as text search folds. */
export function foldAddress(address: string): string {
  return address.toLowerCase();
}
