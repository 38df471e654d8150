import { isAppName } from "../lib/validate.ts";

export type GitService = "git-upload-pack" | "git-receive-pack";

export type GitRoute =
  | { kind: "advertise"; app: string; service: GitService }
  | { kind: "rpc"; app: string; service: GitService };

export type ParsedGitPath = { ok: true; route: GitRoute } | { ok: false; status: 400 | 405; message: string } | null;

const SUFFIX = /\/(info\/refs|git-upload-pack|git-receive-pack)$/;

/**
 * Reads a smart HTTP path. Null when the path is not a git path (the caller
 * falls through to the API). Any path ending in a git endpoint is ours: it
 * either names a valid app in exactly one segment or is refused, so nothing
 * but `<app>.git` ever reaches git http-backend.
 */
export function parseGitPath(method: string, rawUrl: string): ParsedGitPath {
  const { pathname, searchParams } = safeUrl(rawUrl);
  const match = SUFFIX.exec(pathname);
  if (!match) return null;
  const prefix = pathname.slice(0, match.index);
  const segment = /^\/([^/]*)$/.exec(prefix)?.[1] ?? "";
  const app = segment.endsWith(".git") ? segment.slice(0, -4) : segment;
  if (!isAppName(app)) {
    return { ok: false, status: 400, message: `invalid repository path; use <server>/<app>.git (app names are a lowercase letter, then lowercase letters, digits or '-')` };
  }
  const endpoint = match[1]!;
  if (endpoint === "info/refs") {
    if (method !== "GET" && method !== "HEAD") return { ok: false, status: 405, message: "use GET for info/refs" };
    const service = searchParams.get("service");
    if (service !== "git-upload-pack" && service !== "git-receive-pack") {
      return { ok: false, status: 400, message: "only git's smart HTTP protocol is served; update git" };
    }
    return { ok: true, route: { kind: "advertise", app, service } };
  }
  if (method !== "POST") return { ok: false, status: 405, message: `use POST for ${endpoint}` };
  return { ok: true, route: { kind: "rpc", app, service: endpoint as GitService } };
}

function safeUrl(rawUrl: string): URL {
  try {
    return new URL(rawUrl, "http://localhost");
  } catch {
    return new URL("http://localhost/");
  }
}
