/**
 * What the pre-receive hook and the daemon say to each other over the unix
 * socket. The hook POSTs a PushRequest to PUSH_PATH; the daemon answers with a
 * streamed text/plain body: lines of build output, then one exit line.
 */
import { isRefUpdate } from "../lib/validate.ts";

export const PUSH_PATH = "/internal/push";

export interface RefUpdate {
  /** 40 zeros when the ref is created. */
  old: string;
  /** 40 zeros when the ref is deleted. */
  new: string;
  /** Full ref name, such as refs/heads/main. */
  ref: string;
}

/** Where git keeps the pushed objects until the hook accepts them (quarantine). */
export interface QuarantineEnv {
  GIT_OBJECT_DIRECTORY?: string;
  GIT_ALTERNATE_OBJECT_DIRECTORIES?: string;
  GIT_QUARANTINE_PATH?: string;
}

export interface PushRequest {
  app: string;
  userId: number;
  /** Absolute path of the bare repository. */
  repoPath: string;
  refs: RefUpdate[];
  /** Pass this env to any git command reading the pushed objects (e.g. `git archive <new>`). */
  gitEnv: QuarantineEnv;
  /** `git push -o <option>` values, in order. */
  pushOptions: string[];
  /** A clean build: the BEAMSTALK-CLEAN: true header, or `git push -o clean`. */
  clean: boolean;
  /** A hot upgrade of the running nodes: the BEAMSTALK-HOT: true header, or `git push -o hot`. */
  hot: boolean;
}

export const ZERO_SHA = "0".repeat(40);
const EXIT_PREFIX = "beamstalk:exit=";

/** The last line of the daemon's answer; non-zero rejects the push. */
export function formatExitLine(code: number): string {
  return `${EXIT_PREFIX}${Math.trunc(code)}\n`;
}

/** The exit code an exit line carries, or null when the line is build output. */
export function parseExitLine(line: string): number | null {
  const match = /^beamstalk:exit=(\d{1,3})\r?\n?$/.exec(line);
  return match ? Number(match[1]) : null;
}

/** Parses the `<old> <new> <ref>` lines git gives pre-receive on stdin. */
export function parseRefUpdates(text: string): RefUpdate[] {
  const refs: RefUpdate[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const [old, next, ref, ...rest] = line.trim().split(" ");
    if (!old || !next || !ref || rest.length > 0 || !isRefUpdate({ old, new: next, ref })) {
      throw new Error(`unexpected ref update line: ${JSON.stringify(line).slice(0, 200)}`);
    }
    refs.push({ old, new: next, ref });
  }
  return refs;
}
