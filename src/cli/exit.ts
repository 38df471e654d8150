import { BeamstalkError, type ErrorCode } from "../lib/errors.ts";

/** Exit codes, in one place. 0 is success; scripts can branch on the rest. */
export const EXIT: Record<ErrorCode | "unexpected", number> = {
  usage: 2,
  bad_request: 2,
  invalid_json: 2,
  payload_too_large: 2,
  not_logged_in: 3,
  unauthorized: 3,
  api_key_expired: 3,
  mfa_required: 3,
  rate_limited: 3,
  forbidden: 4,
  mfa_setup_required: 4,
  not_found: 4,
  conflict: 5,
  unreachable: 6,
  deploy_failed: 7,
  certificate_failed: 1,
  internal: 1,
  unexpected: 1,
};

/** Prints `error: …` and `hint: …` to stderr and returns the exit code. Never prints a stack trace. */
export function reportError(err: unknown): number {
  if (err instanceof BeamstalkError) {
    process.stderr.write(`error: ${err.message}\n`);
    if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
    return EXIT[err.code];
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${message}\n`);
  return EXIT.unexpected;
}
