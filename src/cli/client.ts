import { BeamstalkError, type ErrorCode } from "../lib/errors.ts";
import { Secret } from "../lib/secret.ts";

export interface ClientOptions {
  url: string;
  apiKey?: Secret;
  /** Send requests over the daemon's unix socket instead of TCP. */
  socket?: string;
}

/** The typed HTTP client every CLI command goes through. Errors come back as BeamstalkError. */
export class ApiClient {
  constructor(private readonly options: ClientOptions) {}

  get url(): string {
    return this.options.url;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body ?? {});
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey.reveal()}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(this.options.url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        ...(this.options.socket ? { unix: this.options.socket } : {}),
      });
    } catch {
      const where = this.options.socket ?? this.options.url;
      throw new BeamstalkError("unreachable", `cannot reach the Beamstalk server at ${where}`, "is the server running? `beamstalk server`; check --url or BEAMSTALK_URL");
    }
    const text = await res.text();
    if (!res.ok) throw errorFrom(res.status, text);
    return (text ? JSON.parse(text) : null) as T;
  }
}

function errorFrom(status: number, text: string): BeamstalkError {
  try {
    const { error } = JSON.parse(text) as { error: { code: ErrorCode; message: string; hint?: string } };
    if (error?.code && error.message) return new BeamstalkError(error.code, error.message, error.hint);
  } catch {
    // not one of our error bodies: fall through
  }
  return new BeamstalkError(status >= 500 ? "internal" : "bad_request", `server answered HTTP ${status}`, "is that URL a Beamstalk server?");
}
