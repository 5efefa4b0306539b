/** Trust amounts of `add-id-certifier -t`: gpg's tsign levels 1 (marginal) and 2 (full). */
export const TRUST_AMOUNT = { marginal: 60, full: 120 } as const;
