import { isAppName } from "../lib/validate.ts";
import type { GitService } from "../git/http-path.ts";

export interface GitCommand {
  service: GitService;
  app: string;
}

const COMMAND = /^(git-receive-pack|git-upload-pack) '\/?([^'\/]+)'$/;

/**
 * Reads the command git sends over SSH: `git-receive-pack '/<app>.git'` (or
 * `git-upload-pack`, with or without the leading '/' and the .git). Anything
 * else is null.
 */
export function parseGitCommand(command: string): GitCommand | null {
  const match = COMMAND.exec(command);
  if (!match) return null;
  const name = match[2]!;
  const app = name.endsWith(".git") ? name.slice(0, -4) : name;
  if (!isAppName(app)) return null;
  return { service: match[1] as GitService, app };
}
