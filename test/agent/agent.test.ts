import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import Docker from "dockerode";
import { type Agent, startAgent } from "../../src/agent/server.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Secret } from "../../src/lib/secret.ts";
import { agentDocker } from "../../src/runner/agent-client.ts";
import { dockerExec } from "../../src/runner/docker/exec.ts";
import { exchange, request, startTap, tokenFile } from "./support.ts";

/**
 * The agent in front of the real engine, used through the client the Swarm
 * runner uses. A tap between the two keeps the bytes the client sent, to show
 * the token on every request, not only on each connection's first.
 */
const IMAGE = "beamstalk/run:bookworm";
const RUN = `ag${Math.random().toString(36).slice(2, 8)}`;
const LABELS = { "beamstalk.test": RUN };
const local = new Docker({ socketPath: "/var/run/docker.sock" });
const secret = tokenFile();
const token = new Secret(secret.token);
const logger = createMemoryLogger();
let agent: Agent;
let tap: ReturnType<typeof startTap>;
let docker: Docker;

beforeAll(() => {
  agent = startAgent({ hostname: "127.0.0.1", port: 0, token, dockerSocket: "/var/run/docker.sock", logger });
  tap = startTap(agent.port);
  docker = agentDocker({ host: "127.0.0.1", port: tap.port, token });
});

afterAll(async () => {
  for (const c of await local.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`] } })) {
    await local.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  tap.stop();
  agent.stop();
  secret.remove();
});

async function readUntil(stream: Readable, done: (text: string) => boolean, ms = 10_000): Promise<string> {
  let text = "";
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(text.slice(-300))}`)), ms);
      stream.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
        if (done(text)) {
          clearTimeout(timer);
          resolve(text);
        }
      });
    });
  } finally {
    stream.destroy();
  }
}

test("through the agent: ping, list, run, exec with stdin and stdout both ways, logs and stats (also streamed), update; the token on every request", async () => {
  expect(String(await docker.ping())).toBe("OK");
  const container = await docker.createContainer({
    Image: IMAGE,
    name: `${RUN}-work`,
    Labels: LABELS,
    Cmd: ["sh", "-c", "echo hello-logs; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"],
  });
  await container.start();
  const listed = await docker.listContainers({ filters: { label: [`beamstalk.test=${RUN}`] } });
  expect(listed.map((c) => c.Names[0])).toEqual([`/${RUN}-work`]);

  // 4 MiB in and back out: more than the sockets' buffers, so both directions pause and resume.
  const payload = randomBytes(3 * 1024 * 1024).toString("base64");
  const session = await dockerExec(docker, container, ["sh", "-c", "cat; echo stderr-too >&2"], { tty: false, user: "0", workingDir: "/" });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  session.stdout.on("data", (b: Buffer) => out.push(b));
  session.stderr.on("data", (b: Buffer) => err.push(b));
  session.stdin.end(payload);
  expect(await session.exited).toBe(0);
  const echoed = Buffer.concat(out).toString();
  expect(echoed.length).toBe(payload.length);
  expect(createHash("sha256").update(echoed).digest("hex")).toBe(createHash("sha256").update(payload).digest("hex"));
  expect(Buffer.concat(err).toString()).toBe("stderr-too\n");
  // With a terminal, as ps:exec and the remote console use it: a resize, then input echoed and answered.
  const tty = await dockerExec(docker, container, ["sh", "-c", "read line; echo got:$line; stty size"], { tty: true, user: "0", workingDir: "/", size: { rows: 33, cols: 101 } });
  const screen: Buffer[] = [];
  tty.stdout.on("data", (b: Buffer) => screen.push(b));
  tty.stdin.write("hi\n");
  expect(await tty.exited).toBe(0);
  expect(Buffer.concat(screen).toString()).toMatch(/got:hi\r\n33 101\r\n/);
  const failing = await dockerExec(docker, container, ["sh", "-c", "exit 3"], { tty: false, user: "0", workingDir: "/" });
  failing.stdin.end();
  expect(await failing.exited).toBe(3);

  const logs = await container.logs({ stdout: true, stderr: true });
  expect(logs.toString("latin1")).toContain("hello-logs\n");
  const followed = (await container.logs({ stdout: true, follow: true, tail: 1 })) as unknown as Readable;
  const seen = Number(/tick-(\d+)/.exec(logs.toString("latin1"))?.[1] ?? 0);
  expect(await readUntil(followed, (text) => [...text.matchAll(/tick-(\d+)/g)].some((m) => Number(m[1]) > seen + 2))).toContain("tick-");

  const stats = await container.stats({ stream: false });
  expect(stats.memory_stats.usage).toBeGreaterThan(0);
  const streamed = (await container.stats({ stream: true })) as unknown as Readable;
  const two = await readUntil(streamed, (text) => text.split("\n").filter((l) => l.startsWith("{")).length >= 2);
  expect(JSON.parse(two.split("\n")[1]!)).toHaveProperty("cpu_stats");

  await container.update({ NanoCpus: 500_000_000 });
  expect((await local.getContainer(container.id).inspect()).HostConfig.NanoCpus).toBe(500_000_000);
  await container.remove({ force: true });
  expect(await docker.listContainers({ all: true, filters: { label: [`beamstalk.test=${RUN}`] } })).toEqual([]);

  // Every request head the client wrote, on every connection, carried the token once.
  const streams = tap.sent.map((chunks) => Buffer.concat(chunks).toString("latin1"));
  // A request line cannot occur inside the bodies or the base64 payload sent here (no spaces, no CRLF).
  const heads = streams.flatMap((s) => [...s.matchAll(/(?:GET|POST|PUT|DELETE|HEAD) \/\S* HTTP\/1\.1\r\n[\s\S]*?\r\n\r\n/g)].map((m) => m[0]));
  expect(heads.length).toBeGreaterThanOrEqual(18);
  for (const head of heads) expect(head.split(`\r\nX-Beamstalk-Agent-Token: ${secret.token}\r\n`).length).toBe(2);
  expect(heads.some((h) => h.startsWith("POST /exec/") && /\r\nUpgrade: tcp\r\n/i.test(h))).toBe(true);
  expect(heads.some((h) => /^GET \/containers\/\w+\/logs\?.*follow=true/.test(h))).toBe(true);
  expect(heads.some((h) => /^GET \/containers\/\w+\/stats\?stream=true/.test(h))).toBe(true);

  const accepted = logger.lines.filter((l) => l.includes("agent.connection.accepted"));
  expect(accepted.length).toBe(streams.length);
  for (const line of accepted) expect(line).toMatch(/ peer=127\.0\.0\.1:\d+$/);
  expect(logger.lines.join("\n")).not.toContain(secret.token);
}, 60_000);

test("with no token, a wrong one or two, a create request gets 401 and is closed, and no container appears; with the token the same bytes create it", async () => {
  const name = `${RUN}-must-not-exist`;
  const create = (headers: Record<string, string>) => request("POST", `/containers/create?name=${name}`, headers, JSON.stringify({ Image: IMAGE, Labels: LABELS }));
  const refusals = [
    await exchange(agent.port, [create({})]),
    await exchange(agent.port, [create({ "X-Beamstalk-Agent-Token": "0".repeat(64) })]),
    await exchange(agent.port, [create({ "X-Beamstalk-Agent-Token": secret.token.slice(0, -1) })]),
    await exchange(agent.port, [create({ "X-Beamstalk-Agent-Token": secret.token, "x-beamstalk-agent-token": "0".repeat(64) })]),
  ];
  for (const r of refusals) {
    expect(r.text).toStartWith("HTTP/1.1 401 Unauthorized\r\n");
    expect(r.text).toEndWith('{"message":"beamstalk agent: missing or wrong token"}');
    expect(r.closed).toBe(true);
  }
  await expect(local.getContainer(name).inspect()).rejects.toMatchObject({ statusCode: 404 });

  const made = await exchange(agent.port, [create({ "X-Beamstalk-Agent-Token": secret.token })], { until: (t) => t.includes("\r\n\r\n") });
  expect(made.text).toStartWith("HTTP/1.1 201 Created\r\n");
  expect((await local.getContainer(name).inspect()).Name).toBe(`/${name}`);
  await local.getContainer(name).remove({ force: true });

  const refused = logger.lines.filter((l) => l.includes("agent.connection.refused"));
  expect(refused.length).toBe(4);
  for (const line of refused) expect(line).toMatch(/ peer=127\.0\.0\.1:\d+ status=401 reason=/);
  expect(logger.lines.join("\n")).not.toContain(secret.token);
});
