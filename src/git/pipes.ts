import type { start } from "../lib/exec.ts";

/** start() with stdin/stdout/stderr "pipe" has all three; the types do not know that. */
export function pipes(proc: ReturnType<typeof start>) {
  const { stdin, stdout, stderr } = proc;
  if (typeof stdin !== "object" || !(stdout instanceof ReadableStream) || !(stderr instanceof ReadableStream)) {
    throw new Error("process was started without pipes");
  }
  return { stdin, stdout: stdout as ReadableStream<Uint8Array>, stderr: stderr as ReadableStream<Uint8Array> };
}
