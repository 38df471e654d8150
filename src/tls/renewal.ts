/** When certificates are renewed, and how failed attempts back off. Pure functions: the scheduler's rules. */

export interface Backoff {
  /** Delay after the first failure. */
  minMs: number;
  /** The delay doubles per failure up to this. */
  maxMs: number;
}

/** One minute, doubling, at most six hours: a broken domain is retried a few times a day at worst. */
export const DEFAULT_BACKOFF: Backoff = { minMs: 60_000, maxMs: 6 * 3_600_000 };

/** Renew at two thirds of the lifetime (Let's Encrypt's 90 days: at 60, leaving 30 days of retries). */
export function renewAt(notBefore: Date, notAfter: Date): Date {
  const life = notAfter.getTime() - notBefore.getTime();
  return new Date(notBefore.getTime() + Math.max(0, Math.floor((life * 2) / 3)));
}

/** The delay before attempt n+1 after n consecutive failures (n ≥ 1): min·2^(n-1), capped. */
export function retryDelay(failures: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  const n = Math.max(1, failures);
  return Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(n - 1, 40));
}
