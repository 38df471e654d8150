import { addressKey } from "../lib/client-address.ts";
import { FailureBuckets } from "../lib/rate-limit.ts";
import { RateLimited } from "../lib/errors.ts";

/**
 * Rate limits on failed authentication (README "Rate limits"): wrong
 * passwords at login, refused signups and invite redemptions, a wrong current
 * password, and API keys that are not valid. Only failures count; a success
 * takes nothing and resets nothing. Requests over the local unix socket
 * (root on the host) are never limited.
 *
 * - passwords, per client address: 10 at once, then 1 every 6 s;
 * - passwords, per account (the email tried): 5 at once, then 1 every 60 s;
 * - API keys, per client address: 30 at once, then 1 every 2 s.
 *
 * An IPv6 client address counts by its /64 (addressKey).
 *
 * So no real user waits longer than 60 s for the next attempt because of
 * failures (theirs or anyone's) that have stopped; an attacker guessing one
 * account gets 1 try a minute from anywhere, and API keys that are already
 * issued keep working while their account's password attempts are limited.
 */
export interface AuthThrottle {
  passwordsByAddress: FailureBuckets;
  passwordsByAccount: FailureBuckets;
  apiKeysByAddress: FailureBuckets;
}

export function defaultThrottle(now?: () => number): AuthThrottle {
  const clock = now ? { now } : {};
  return {
    passwordsByAddress: new FailureBuckets({ burst: 10, refillMs: 6_000, ...clock }),
    passwordsByAccount: new FailureBuckets({ burst: 5, refillMs: 60_000, ...clock }),
    apiKeysByAddress: new FailureBuckets({ burst: 30, refillMs: 2_000, ...clock }),
  };
}

const made = new WeakMap<object, AuthThrottle>();

/** The deps' limits; routes mounted without createApi (tests) get their own, made once per deps. */
export function throttleOf(deps: { throttle?: AuthThrottle | undefined }): AuthThrottle {
  if (deps.throttle) return deps.throttle;
  let throttle = made.get(deps);
  if (throttle === undefined) made.set(deps, (throttle = defaultThrottle()));
  return throttle;
}

/** Who is trying, as the limits see it: null over the local socket (never limited). */
export interface Attempt {
  address: string | null;
  account?: string;
}

type Kind = "password" | "api_key";

function bucketsFor(t: AuthThrottle, kind: Kind, attempt: Attempt): [FailureBuckets, string][] {
  const out: [FailureBuckets, string][] = [];
  if (attempt.address === null) return out;
  out.push([kind === "password" ? t.passwordsByAddress : t.apiKeysByAddress, addressKey(attempt.address)]);
  if (kind === "password" && attempt.account) out.push([t.passwordsByAccount, attempt.account]);
  return out;
}

/** Throws RateLimited (429) when the attempt's address or account has to wait. */
export function checkAttempt(t: AuthThrottle, kind: Kind, attempt: Attempt): void {
  let wait = 0;
  for (const [buckets, key] of bucketsFor(t, kind, attempt)) wait = Math.max(wait, buckets.wait(key));
  if (wait > 0) {
    const what = kind === "password" ? "failed sign-in attempts" : "requests with an API key that is not valid";
    throw new RateLimited(`too many ${what}`, Math.ceil(wait / 1000));
  }
}

/** Counts a failed attempt against its address and account. */
export function failedAttempt(t: AuthThrottle, kind: Kind, attempt: Attempt): void {
  for (const [buckets, key] of bucketsFor(t, kind, attempt)) buckets.fail(key);
}

/** Runs `fn`; a throw counts as a failure (after the check that the attempt may be made at all). */
export async function limited<T>(t: AuthThrottle, kind: Kind, attempt: Attempt, fn: () => Promise<T>): Promise<T> {
  checkAttempt(t, kind, attempt);
  try {
    return await fn();
  } catch (error) {
    failedAttempt(t, kind, attempt);
    throw error;
  }
}
