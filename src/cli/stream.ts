import { forEachLine } from "../lib/lines.ts";
import type { Cli } from "./context.ts";

/** GETs a streamed response and calls onLine for each non-empty line as it arrives (`logs` must not wait for the end). */
export async function streamLines(cli: Cli, path: string, onLine: (line: string) => void, signal?: AbortSignal): Promise<void> {
  const res = await cli.client().open("GET", path, { accept: "application/x-ndjson", ...(signal ? { signal } : {}) });
  await forEachLine(res.body ?? undefined, (line) => {
    if (line !== "") onLine(line);
  });
}
