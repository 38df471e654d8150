import { BeamstalkError } from "../lib/errors.ts";
import { enc } from "./context.ts";
import { command } from "./define.ts";
import { info, printTable } from "./output.ts";
import { replicaArg } from "./ps-remote.ts";

interface PsJson {
  release: number | null;
  formation: Record<string, { count: number; size: number }>;
  replicas: {
    name: string;
    process: string;
    release: number;
    state: string;
    size: number;
    uptime_seconds: number | null;
    restarts: number;
    memory_bytes: number | null;
    memory_limit_bytes: number | null;
    cpu_percent: number | null;
    node: string | null;
    connected_nodes: string[] | null;
  }[];
  /** Absent from older servers. */
  cron_failures?: { entry: string; exit_code: number | null; detail: string | null; finished_at: string | null }[];
}

const mib = (bytes: number | null) => (bytes === null ? "-" : `${Math.round(bytes / 1048576)}M`);

export function uptime(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d${Math.floor((seconds % 86400) / 3600)}h`;
}

export const ps = command({
  name: "ps",
  aliases: ["status"],
  description: "Desired against running replicas per process type, with release, state, uptime, restarts, memory, CPU, node name and connected nodes",
  app: true,
  data: true,
  async run(_args, cli) {
    const name = await cli.app();
    const res = await cli.client().get<PsJson>(`/api/apps/${enc(name)}/ps`);
    cli.print(res, () => {
      const running = (type: string) => res.replicas.filter((r) => r.process === type && r.state === "running").length;
      printTable(
        Object.entries(res.formation).map(([type, f]) => ({ type, desired: f.count, running: running(type), size: f.size, release: res.release === null ? "-" : `v${res.release}` })),
        ["type", "desired", "running", "size", "release"],
        `${name} has no release yet: git push first`,
      );
      if (res.replicas.length > 0) process.stdout.write("\n");
      printTable(
        res.replicas.map((r) => ({
          replica: r.name,
          release: `v${r.release}`,
          state: r.state,
          uptime: uptime(r.uptime_seconds),
          restarts: r.restarts,
          memory: `${mib(r.memory_bytes)}/${mib(r.memory_limit_bytes)}`,
          cpu: r.cpu_percent === null ? "-" : `${r.cpu_percent}%`,
          node: r.node ?? "-",
          nodes: r.connected_nodes === null ? "-" : r.connected_nodes.length,
        })),
        ["replica", "release", "state", "uptime", "restarts", "memory", "cpu", "node", "nodes"],
      );
      for (const f of res.cron_failures ?? []) {
        process.stdout.write(`\ncron.${f.entry}: last run failed${f.exit_code === null ? "" : ` (exit ${f.exit_code})`} at ${f.finished_at ?? "-"}${f.detail ? `: ${f.detail}` : ""}\n`);
      }
    });
  },
});

export const psScale = command({
  name: "ps:scale",
  aliases: ["scale"],
  description: "Set replicas and/or size of a process type (sizes 0.5-16 in steps of 0.1; 1 size = 1 GiB, 0.2 CPU); 0 replicas stops it",
  app: true,
  args: {
    replicas: { type: "string", description: "number of replicas" },
    size: { type: "string", description: "replica size" },
    process: { type: "string", default: "web", description: "process type (default web)" },
  },
  async run(args, cli) {
    const body: Record<string, unknown> = { process: args.process };
    for (const key of ["replicas", "size"] as const) {
      if (args[key] === undefined) continue;
      const n = Number(args[key]);
      if (args[key] === "" || !Number.isFinite(n)) throw new BeamstalkError("usage", `--${key} must be a number`);
      body[key] = n;
    }
    if (body.replicas === undefined && body.size === undefined) throw new BeamstalkError("usage", "nothing to scale", "give --replicas N and/or --size S");
    const name = await cli.app();
    const res = await cli.client().post<{ formation: Record<string, { count: number; size: number }> }>(`/api/apps/${enc(name)}/ps/scale`, body);
    const f = res.formation[args.process]!;
    info(`${name} ${args.process}: ${f.count} × size ${f.size}`);
  },
});

export const psRestart = command({
  name: "ps:restart",
  aliases: ["restart"],
  description: "Rolling restart: new replicas replace the old ones through the same health checks as a deploy",
  app: true,
  async run(_args, cli) {
    const name = await cli.app();
    await cli.client().post(`/api/apps/${enc(name)}/ps/restart`);
    info(`Restarted ${name}.`);
  },
});

export const psKill = command({
  name: "ps:kill",
  description: "Kill one replica (e.g. web.1) as a crash would; it comes back the way a crashed replica does",
  app: true,
  args: { replica: { type: "positional", required: true, description: "the replica, e.g. web.1 (`beamstalk ps` lists them)" } },
  async run(args, cli) {
    const [replica] = replicaArg(args.replica);
    const name = await cli.app();
    await cli.client().post(`/api/apps/${enc(name)}/ps/kill`, { replica });
    info(`Killed ${replica} of ${name}; it comes back as a crashed replica does (\`beamstalk ps\` shows it).`);
  },
});
