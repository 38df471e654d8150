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
    const res = await this.open(method, path, { body, accept: "application/json" });
    const text = await res.text();
    return (text ? JSON.parse(text) : null) as T;
  }

  /**
   * Sends a request and hands back the response once its status is known, body
   * unread, for commands that stream (`logs`, `run`). No idle timeout: a job or
   * a followed log may be quiet for a long time. Errors as for request().
   */
  async open(method: string, path: string, options: { body?: unknown; accept?: string; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: options.accept ?? "*/*" };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey.reveal()}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      // The daemon's unix socket speaks plain HTTP even when the server's URL is https://.
      const base = this.options.socket ? this.options.url.replace(/^https:/, "http:") : this.options.url;
      res = await fetch(base + path, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        timeout: false,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(this.options.socket ? { unix: this.options.socket } : {}),
      } as RequestInit);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const where = this.options.socket ?? this.options.url;
      throw new BeamstalkError("unreachable", `cannot reach the Beamstalk server at ${where}`, "is the server running? `beamstalk server`; check --url or BEAMSTALK_URL");
    }
    if (!res.ok) throw errorFrom(res.status, await res.text());
    return res;
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
