import { enc } from "./context.ts";
import { command } from "./define.ts";
import { info, printTable } from "./output.ts";

interface RunJson {
  id: number;
  entry: string;
  release: number;
  trigger: "schedule" | "manual";
  status: "running" | "succeeded" | "failed" | "skipped";
  exit_code: number | null;
  detail: string | null;
  started_at: string;
  finished_at: string | null;
}

interface EntryJson {
  id: string;
  schedule: string;
  command: string;
  release: number;
  running: boolean;
  last_run: RunJson | null;
  skipped_since_last_run: number;
  next_run: string;
}

/** `2026-12-03 14:05:00Z`: minutes matter here, the milliseconds do not. */
const when = (iso: string | null) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z` : "-");

export const cron = command({
  name: "cron",
  description: "The app's scheduled jobs (app.json cron, UTC) with their last run, exit code and next run",
  app: true,
  data: true,
  async run(_args, cli) {
    const name = await cli.app();
    const entries = await cli.client().get<EntryJson[]>(`/api/apps/${enc(name)}/cron`);
    cli.print(entries, () =>
      printTable(
        entries.map((e) => ({
          id: e.id,
          schedule: e.schedule,
          command: e.command.length > 40 ? `${e.command.slice(0, 39)}…` : e.command,
          "last run": e.running ? `running since ${when(e.last_run?.started_at ?? null)}` : when(e.last_run?.started_at ?? null),
          exit: e.last_run?.status === "failed" && e.last_run.exit_code === null ? "failed" : (e.last_run?.exit_code ?? "-"),
          skipped: e.skipped_since_last_run,
          "next run": when(e.next_run),
        })),
        ["id", "schedule", "command", "last run", "exit", "skipped", "next run"],
        `${name} has no cron entries (app.json "cron" declares them)`,
      ),
    );
  },
});

export const cronRun = command({
  name: "cron:run",
  description: "Run a scheduled job now, as a one-off job of the current release (its output goes to the app's log)",
  app: true,
  data: true,
  args: { id: { type: "positional", required: true, description: "the entry's id (from `beamstalk cron`)" } },
  async run(args, cli) {
    const name = await cli.app();
    const run = await cli.client().post<RunJson>(`/api/apps/${enc(name)}/cron/${enc(args.id)}/run`);
    cli.print(run, () => info(`Started cron ${run.entry} on ${name} v${run.release}; \`beamstalk logs -a ${name}\` shows its output as cron.${run.entry}.`));
  },
});
