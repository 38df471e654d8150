import { containersLabelled, dockerOn } from "./target.ts";

/**
 * What each running replica of an app sees when its nodes do not form a
 * cluster, layer by layer, so a failure says where it broke: the DNS answer
 * for `<app>.internal`, whether each peer's EPMD (4369) and distribution port
 * (9100) accept a TCP connection from it, its CPU throttling, and the last
 * lines its node logged (global's "overlapping partitions" warnings show there).
 */
export function diagnoseCluster(app: string): string {
  const ids = containersLabelled(`beamstalk.app=${app}`).filter((id) => inspect(id, "{{.State.Running}}") === "true");
  const ips = ids.map((id) => inspect(id, `{{(index .NetworkSettings.Networks "beamstalk-${app}").IPAddress}}`));
  const report = ids.map((id, i) => {
    const peers = ips.filter((_, j) => j !== i);
    const probes = peers.flatMap((ip) => [4369, 9100].map((port) => `${ip}:${port} ${exec(id, ["timeout", "2", "bash", "-c", 'exec 3<>"/dev/tcp/$0/$1" && echo open', ip, String(port)]) || "closed"}`));
    return [
      `--- ${inspect(id, "{{.Name}}")} ${ips[i]}`,
      `dns ${app}.internal: ${exec(id, ["getent", "ahostsv4", `${app}.internal`]).split("\n").map((l) => l.split(/\s+/)[0]).filter((v, k, all) => v && all.indexOf(v) === k).join(" ")}`,
      `peers: ${probes.join(", ")}`,
      `cpu: ${exec(id, ["cat", "/sys/fs/cgroup/cpu/cpu.stat"]) || exec(id, ["cat", "/sys/fs/cgroup/cpu.stat"])}`.replaceAll("\n", " "),
      `log: ${logTail(id)}`,
    ].join("\n");
  });
  const forward = Bun.spawnSync(["iptables", "-S", "FORWARD"]).stdout.toString().trim();
  return [...report, `--- host iptables FORWARD:\n${forward}`].join("\n");
}

function inspect(id: string, format: string): string {
  return dockerOn(id, "inspect", "-f", format, id).stdout;
}

function exec(id: string, argv: string[]): string {
  return dockerOn(id, "exec", id, "timeout", "5", ...argv).stdout;
}

function logTail(id: string): string {
  const res = dockerOn(id, "logs", "--tail", "40", id);
  const lines = (res.stdout + res.stderr).split("\n").filter((l) => l && !l.startsWith("beamstalk-boot: "));
  return lines.slice(-12).join("\n  ") || "(nothing but boot lines)";
}
