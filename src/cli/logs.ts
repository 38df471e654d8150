import { BeamstalkError } from "../lib/errors.ts";
import { enc } from "./context.ts";
import { command } from "./define.ts";
import { streamLines } from "./stream.ts";

interface EntryJson {
  time: string;
  source: string;
  replica: string;
  line: string;
}

/** `2026-11-26T17:00:00.123Z web.1[app]: text` */
export function formatLogLine(e: EntryJson): string {
  return `${e.time} ${e.replica}[${e.source}]: ${e.line}`;
}

export const logs = command({
  name: "logs",
  description: "Show an app's log (app, build, router and platform lines): the last lines, then new ones until interrupted",
  app: true,
  data: true,
  args: {
    num: { type: "string", alias: "n", description: "lines of history to show first (default 100, at most 10000)" },
    tail: { type: "boolean", default: true, description: "keep following new lines (--no-tail: print the history and stop)" },
  },
  async run(args, cli) {
    const num = args.num === undefined ? 100 : Number(args.num);
    if (!Number.isSafeInteger(num) || num < 0 || num > 10_000) throw new BeamstalkError("usage", `--num must be 0 to 10000, not ${args.num}`);
    const name = await cli.app();
    await streamLines(cli, `/api/apps/${enc(name)}/logs?num=${num}&tail=${args.tail !== false}`, (text) => {
      process.stdout.write((cli.json ? text : formatLogLine(JSON.parse(text) as EntryJson)) + "\n");
    });
  },
});
