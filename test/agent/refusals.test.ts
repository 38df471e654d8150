import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { UnixSocketListener } from "bun";
import { type Agent, startAgent } from "../../src/agent/server.ts";
import { createMemoryLogger } from "../../src/lib/logger.ts";
import { Secret } from "../../src/lib/secret.ts";
import { agentDocker } from "../../src/runner/agent-client.ts";
import { exchange, request, tokenFile } from "./support.ts";

/**
 * What the agent refuses, in front of a stand-in for Docker's socket that
 * counts who reaches it: nothing refused may get there.
 */
const secret = tokenFile();
const logger = createMemoryLogger();
const HEAD_TIMEOUT_MS = 400;
const ANSWER = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";
const reached: Buffer[][] = [];
let fakeDocker: UnixSocketListener<Buffer[]>;
let agent: Agent;

beforeAll(() => {
  fakeDocker = Bun.listen<Buffer[]>({
    unix: join(secret.dir, "docker.sock"),
    socket: {
      open(sock) {
        sock.data = [];
        reached.push(sock.data);
      },
      // Answers once the whole request (head and Content-Length body) is in.
      data(sock, chunk) {
        sock.data.push(Buffer.from(chunk));
        const text = Buffer.concat(sock.data).toString("latin1");
        const end = text.indexOf("\r\n\r\n");
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        if (end >= 0 && text.length === end + 4 + length) sock.write(ANSWER);
      },
    },
  });
  agent = startAgent({ hostname: "127.0.0.1", port: 0, token: new Secret(secret.token), dockerSocket: join(secret.dir, "docker.sock"), logger, headTimeoutMs: HEAD_TIMEOUT_MS });
});

afterAll(() => {
  agent.stop();
  fakeDocker.stop(true);
  secret.remove();
});

const TOKEN = "X-Beamstalk-Agent-Token";
const statusOf = (text: string) => text.slice(0, text.indexOf("\r\n"));

test("no token, a wrong token, and what is not HTTP: answered and closed, nothing reaches Docker", async () => {
  const cases: [string, string][] = [
    [request("GET", "/_ping", {}), "HTTP/1.1 401 Unauthorized"],
    [request("GET", "/_ping", { [TOKEN]: "wrong".repeat(13) }), "HTTP/1.1 401 Unauthorized"],
    [request("GET", "/_ping", { [TOKEN]: "" }), "HTTP/1.1 401 Unauthorized"],
    ["SSH-2.0-OpenSSH_9.2\r\n\r\n", "HTTP/1.1 400 Bad Request"],
  ];
  for (const [bytes, status] of cases) {
    const r = await exchange(agent.port, [bytes]);
    expect(statusOf(r.text)).toBe(status);
    expect(r.closed).toBe(true);
  }
  // A head cut short by the client's FIN is not passed on either.
  const short = await exchange(agent.port, [`GET /_ping HTTP/1.1\r\n${TOKEN}: ${secret.token}\r\n`], { end: true });
  expect(statusOf(short.text)).toBe("HTTP/1.1 400 Bad Request");
  // dockerode through the client with a wrong token: the 401 and its message surface as the error.
  const wrong = agentDocker({ host: "127.0.0.1", port: agent.port, token: new Secret("0".repeat(64)) });
  await expect(wrong.ping()).rejects.toMatchObject({ statusCode: 401, message: expect.stringContaining("beamstalk agent: missing or wrong token") });
  expect(reached.length).toBe(0);
});

test("a head over 16 KiB is cut with 431 at the cap, even with the right token in it; nothing reaches Docker", async () => {
  const pad = `X-Pad: ${"p".repeat(17 * 1024)}\r\n`;
  const r = await exchange(agent.port, [`GET /_ping HTTP/1.1\r\n${TOKEN}: ${secret.token}\r\n`, pad]);
  expect(statusOf(r.text)).toBe("HTTP/1.1 431 Request Header Fields Too Large");
  expect(r.closed).toBe(true);
  // The cap holds for bytes that keep coming after the answer too: the connection is gone.
  const flood = await exchange(agent.port, Array.from({ length: 64 }, () => "X".repeat(1024)), { gapMs: 5 });
  expect(statusOf(flood.text)).toBe("HTTP/1.1 431 Request Header Fields Too Large");
  expect(flood.closed).toBe(true);
  expect(reached.length).toBe(0);
});

test("a slow head is cut after the head timeout, whether it stalls or trickles; nothing reaches Docker", async () => {
  const stalled = await exchange(agent.port, ["GET /_ping HTTP/1.1\r\n"], { waitMs: 5000 });
  expect(statusOf(stalled.text)).toBe("HTTP/1.1 408 Request Timeout");
  expect(stalled.closed).toBe(true);
  expect(stalled.ms).toBeGreaterThanOrEqual(HEAD_TIMEOUT_MS - 20);
  expect(stalled.ms).toBeLessThan(HEAD_TIMEOUT_MS + 1500);
  // A byte every 20 ms keeps it busy but does not extend the time it has.
  const head = `GET /_ping HTTP/1.1\r\n${TOKEN}: ${secret.token}\r\n\r\n`;
  const trickled = await exchange(agent.port, [...head], { gapMs: 20, waitMs: 5000 });
  expect(statusOf(trickled.text)).toBe("HTTP/1.1 408 Request Timeout");
  expect(trickled.ms).toBeLessThan(head.length * 20);
  // Nothing at all: the same.
  const silent = await exchange(agent.port, [], { waitMs: 5000 });
  expect(statusOf(silent.text)).toBe("HTTP/1.1 408 Request Timeout");
  expect(reached.length).toBe(0);
});

test("with the token, the bytes reach Docker exactly as sent, body and all, and Docker's answer comes back as it was", async () => {
  const bytes = request("POST", "/containers/create?name=x", { [TOKEN]: secret.token, "X-Other": "kept" }, JSON.stringify({ Image: "beamstalk/run:bookworm" }));
  // In three pieces, the token's line split across two of them.
  const cut = bytes.indexOf(TOKEN) + 5;
  const r = await exchange(agent.port, [bytes.slice(0, cut), bytes.slice(cut, -3), bytes.slice(-3)], { gapMs: 10, until: (t) => t.endsWith("OK") });
  expect(r.text).toBe(ANSWER);
  expect(reached.length).toBe(1);
  expect(Buffer.concat(reached[0]!).toString("latin1")).toBe(bytes);
});

test("the log: one line per connection with the peer and the reason, never the token", () => {
  const refused = logger.lines.filter((l) => l.includes(" agent.connection.refused "));
  expect(refused.map((l) => / status=(\d+)/.exec(l)?.[1])).toEqual(["401", "401", "401", "400", "400", "401", "431", "431", "408", "408", "408"]);
  for (const line of refused) expect(line).toMatch(/ warn agent\.connection\.refused peer=127\.0\.0\.1:\d+ status=\d+ reason=/);
  expect(logger.lines.filter((l) => l.includes(" agent.connection.accepted peer=127.0.0.1:")).length).toBe(1);
  expect(logger.lines.join("\n")).not.toContain(secret.token);
});
