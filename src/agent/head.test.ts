import { expect, test } from "bun:test";
import { checkHead, refusal, tokenDigest } from "./head.ts";

const TOKEN = "a".repeat(32) + "b".repeat(32);
const expected = tokenDigest(TOKEN);
const head = (...lines: string[]) => Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1");
const check = (buf: Buffer, max = 16384) => checkHead(buf, expected, max);

test("a head with the token is accepted; the header name's case does not matter, the value's does", () => {
  expect(check(head("GET /_ping HTTP/1.1", "Host: x", `X-Beamstalk-Agent-Token: ${TOKEN}`))).toEqual({ verdict: "accepted" });
  expect(check(head("POST /exec/1/start HTTP/1.1", `x-beamstalk-agent-token:\t${TOKEN} `, "Upgrade: tcp"))).toEqual({ verdict: "accepted" });
  expect(check(head("GET / HTTP/1.1", `X-Beamstalk-Agent-Token: ${TOKEN.toUpperCase()}`))).toMatchObject({ status: 401, reason: "wrong token" });
});

test("no token, a wrong one, a longer one, or the header twice: 401", () => {
  expect(check(head("GET /_ping HTTP/1.1", "Host: x"))).toMatchObject({ verdict: "refused", status: 401, reason: "no token" });
  expect(check(head("GET / HTTP/1.1", `X-Beamstalk-Agent-Token: ${TOKEN.slice(1)}`))).toMatchObject({ status: 401, reason: "wrong token" });
  expect(check(head("GET / HTTP/1.1", `X-Beamstalk-Agent-Token: ${TOKEN}x`))).toMatchObject({ status: 401, reason: "wrong token" });
  expect(check(head("GET / HTTP/1.1", `X-Beamstalk-Agent-Token: ${TOKEN}`, `X-Beamstalk-Agent-Token: ${TOKEN}`))).toMatchObject({ status: 401, reason: "token header repeated" });
  // A look-alike name (space before the colon) is not the header: Docker's Go server would refuse it anyway.
  expect(check(head("GET / HTTP/1.1", `X-Beamstalk-Agent-Token : ${TOKEN}`))).toMatchObject({ status: 401, reason: "no token" });
});

test("what is not an HTTP/1 request head: 400", () => {
  expect(check(head("SSH-2.0-OpenSSH_9.2", `X-Beamstalk-Agent-Token: ${TOKEN}`))).toMatchObject({ status: 400 });
  expect(check(head("GET / HTTP/2.0", `X-Beamstalk-Agent-Token: ${TOKEN}`))).toMatchObject({ status: 400 });
  expect(check(head("GET / HTTP/1.1", "no colon here", `X-Beamstalk-Agent-Token: ${TOKEN}`))).toMatchObject({ status: 400 });
});

test("an unfinished head waits, and the next search starts near where this one stopped", () => {
  const whole = head("GET /_ping HTTP/1.1", `X-Beamstalk-Agent-Token: ${TOKEN}`);
  const part = whole.subarray(0, whole.length - 2); // ends in "\r\n": the end marker straddles the pieces
  expect(check(part)).toEqual({ verdict: "incomplete", searched: part.length });
  expect(checkHead(whole, expected, 16384, part.length)).toEqual({ verdict: "accepted" });
});

test("a head longer than the cap is refused with 431 once the cap is reached, ended or not", () => {
  const long = head("GET / HTTP/1.1", `X-Beamstalk-Agent-Token: ${TOKEN}`, `X-Pad: ${"p".repeat(200)}`);
  expect(check(long, long.length)).toEqual({ verdict: "accepted" });
  expect(check(long, long.length - 1)).toMatchObject({ status: 431 });
  expect(check(long.subarray(0, 100), 100)).toMatchObject({ status: 431 });
  expect(check(long.subarray(0, 99), 100)).toMatchObject({ verdict: "incomplete" });
});

test("a refusal is a whole answer in Docker's error shape, and it closes the connection", () => {
  const text = refusal(401, "missing or wrong token");
  expect(text).toStartWith("HTTP/1.1 401 Unauthorized\r\n");
  expect(text).toContain("\r\nConnection: close\r\n");
  const body = text.slice(text.indexOf("\r\n\r\n") + 4);
  expect(JSON.parse(body)).toEqual({ message: "beamstalk agent: missing or wrong token" });
  expect(text).toContain(`Content-Length: ${body.length}\r\n`);
});
