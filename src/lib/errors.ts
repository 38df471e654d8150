/**
 * The one error type that crosses layers. It carries a stable code (clients
 * branch on it), the HTTP status the API answers with, and a hint telling a
 * person what to do next. Messages never contain secrets.
 */
export type ErrorCode =
  | "bad_request"
  | "invalid_json"
  | "unauthorized"
  | "api_key_expired"
  | "mfa_required"
  | "mfa_setup_required"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "payload_too_large"
  | "deploy_failed"
  | "certificate_failed"
  | "internal"
  | "unreachable"
  | "not_logged_in"
  | "usage"
  | "rate_limited";

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_json: 400,
  unauthorized: 401,
  api_key_expired: 401,
  // Password right; the account's second factor is needed too (login asks for it).
  mfa_required: 401,
  // The server requires MFA and the account has none yet: its key reaches the MFA routes only.
  mfa_setup_required: 403,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  deploy_failed: 422,
  // The certificate authority refused or could not validate: an upstream's failure.
  certificate_failed: 502,
  internal: 500,
  unreachable: 503,
  not_logged_in: 401,
  usage: 400,
  rate_limited: 429,
};

export class BeamstalkError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = "BeamstalkError";
    this.code = code;
    this.hint = hint;
  }

  get status(): number {
    return STATUS[this.code];
  }

  toBody(): { error: { code: ErrorCode; message: string; hint?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) } };
  }
}

/** Too many failed attempts: the API answers 429 with Retry-After. */
export class RateLimited extends BeamstalkError {
  constructor(
    message: string,
    /** Whole seconds until the next attempt is allowed. */
    readonly retryAfter: number,
  ) {
    super("rate_limited", message, `try again in ${retryAfter} s`);
  }
}

export const badRequest = (message: string, hint?: string) => new BeamstalkError("bad_request", message, hint);
export const notFound = (message: string, hint?: string) => new BeamstalkError("not_found", message, hint);
export const forbidden = (message: string, hint?: string) => new BeamstalkError("forbidden", message, hint);
export const conflict = (message: string, hint?: string) => new BeamstalkError("conflict", message, hint);
export const unauthorized = (message: string, hint?: string) => new BeamstalkError("unauthorized", message, hint);
