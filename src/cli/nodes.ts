import { BeamstalkError } from "../lib/errors.ts";
import { start } from "../lib/exec.ts";
import type { HostJson } from "../lib/hosts.ts";
import { type Cli, enc } from "./context.ts";
import { command } from "./define.ts";
import { info, printTable } from "./output.ts";


const HOST = { host: { type: "positional" as const, required: true, description: "the host's name, address or id (from beamstalk nodes)" } };

export const nodes = command({
  name: "nodes",
  description: "The hosts replicas run on (admins, --runner swarm): address, role, state, availability, CPUs, memory, replicas",
  data: true,
  async run(_args, cli) {
    const hosts = await cli.client().get<HostJson[]>("/api/nodes");
    cli.print(hosts, () =>
      printTable(
        hosts.map((h) => ({
          host: h.hostname,
          address: h.address,
          role: h.leader ? "manager (leader)" : h.role,
          state: h.state,
          availability: h.availability,
          cpus: h.cpus,
          memory: `${(h.memory_bytes / 1024 ** 3).toFixed(1)} GiB`,
          replicas: h.replicas,
        })),
        ["host", "address", "role", "state", "availability", "cpus", "memory", "replicas"],
      ),
    );
  },
});

export const nodesAdd = command({
  name: "nodes:add",
  description: "Print the command that joins a new host to the cluster; with --ssh user@host, load the run image there and join it over SSH",
  args: { ssh: { type: "string", description: "run it on this host over SSH (user@host), with your own ssh" } },
  async run(args, cli) {
    const { argv } = await cli.client().post<{ argv: string[]; manager: string }>("/api/nodes/join");
    if (!args.ssh) {
      info("On the new host (Docker installed), load the run image and join:");
      info(`  beamstalk nodes:image | ssh <host> docker load    (from a machine that can reach both)`);
      process.stdout.write(`${argv.join(" ")}\n`);
      return;
    }
    await joinOverSsh(cli, String(args.ssh), argv);
  },
});

export const nodesImage = command({
  name: "nodes:image",
  description: "Write the stack's run image (a docker save tarball) to stdout, for `docker load` on a new host",
  async run(_args, cli) {
    if (process.stdout.isTTY) throw new BeamstalkError("bad_request", "the image is a tarball: pipe it", "beamstalk nodes:image | ssh <host> docker load");
    const res = await cli.client().open("GET", "/api/nodes/image");
    for await (const chunk of res.body!) process.stdout.write(chunk);
  },
});

export const nodesDrain = command({
  name: "nodes:drain",
  description: "Move a host's replicas to the other hosts (rolling, health-checked, no failed request); it then takes none",
  args: HOST,
  async run(args, cli) {
    const res = await cli.client().post<{ host: HostJson; output: string[] }>(`/api/nodes/${enc(String(args.host))}/drain`);
    for (const line of res.output) info(line);
    info(`${res.host.hostname} is drained: it runs no replicas and takes none (beamstalk nodes:activate ${res.host.hostname} to undo).`);
  },
});

export const nodesActivate = command({
  name: "nodes:activate",
  description: "Let a drained host take replicas again (new ones: running replicas stay where they are)",
  args: HOST,
  async run(args, cli) {
    const host = await cli.client().post<HostJson>(`/api/nodes/${enc(String(args.host))}/activate`);
    info(`${host.hostname} takes replicas again.`);
  },
});

export const nodesRemove = command({
  name: "nodes:remove",
  description: "Remove a host from the cluster (it must hold no replicas: drain it first; a host still up must `docker swarm leave`)",
  args: HOST,
  async run(args, cli) {
    await cli.client().delete(`/api/nodes/${enc(String(args.host))}`);
    info(`${String(args.host)} is no longer part of the cluster.`);
  },
});

/**
 * Over the user's own ssh: the run image first (docker load from our stdin),
 * then the join. The join command travels on ssh's stdin, never in an argv
 * on this machine; on the host, docker takes the token as an argument (it has no other way).
 */
async function joinOverSsh(cli: Cli, target: string, argv: string[]): Promise<void> {
  if (!/^[A-Za-z0-9._-]+@[A-Za-z0-9.:_-]+$|^[A-Za-z0-9.:_-]+$/.test(target)) throw new BeamstalkError("bad_request", `--ssh ${JSON.stringify(target).slice(0, 60)} is not user@host`);
  const image = await cli.client().open("GET", "/api/nodes/image");
  const load = start(["ssh", "-o", "BatchMode=yes", "--", target, "docker", "load"], { stdin: image.body!, stdout: "inherit", stderr: "inherit" });
  if ((await load.exited) !== 0) throw new BeamstalkError("unreachable", `loading the run image on ${target} failed (ssh exited ${load.exitCode})`, "can you `ssh <host> docker info`?");
  const script = `exec ${argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ")}\n`;
  const join = start(["ssh", "-o", "BatchMode=yes", "--", target, "sh", "-s"], { stdin: new Blob([script]), stdout: "inherit", stderr: "inherit" });
  if ((await join.exited) !== 0) throw new BeamstalkError("conflict", `${target} did not join the cluster (exit ${join.exitCode})`, "is it in another Swarm already? docker info on it");
  info(`${target} joined; beamstalk nodes shows it.`);
}
