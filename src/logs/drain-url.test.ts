import { describe, expect, test } from "bun:test";
import { BeamstalkError } from "../lib/errors.ts";
import { parseDrainUrl, redactUrl } from "./drain-url.ts";
import { octetFrame, parseFrames, syslogMessage } from "./syslog.ts";

function refusal(raw: unknown): string {
  try {
    parseDrainUrl(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(BeamstalkError);
    expect((err as BeamstalkError).code).toBe("bad_request");
    return (err as Error).message;
  }
  throw new Error(`accepted ${String(raw)}`);
}

describe("drain URLs", () => {
  test("accepts syslog, syslog+tls and https", () => {
    expect(parseDrainUrl("syslog://logs.example.com:514")).toMatchObject({ kind: "syslog", host: "logs.example.com", port: 514 });
    expect(parseDrainUrl("syslog+tls://10.0.0.1:6514/")).toMatchObject({ kind: "syslog+tls", host: "10.0.0.1", port: 6514 });
    expect(parseDrainUrl("syslog://[::1]:514")).toMatchObject({ kind: "syslog", host: "::1", port: 514 });
    expect(parseDrainUrl("https://user:pw@logs.example.com/ingest?token=abc")).toMatchObject({ kind: "https", host: "logs.example.com", port: 443 });
    expect(parseDrainUrl("https://127.0.0.1:8443/x")).toMatchObject({ port: 8443 });
  });

  test("refuses other schemes, missing hosts and ports, with clear messages that never echo the URL", () => {
    expect(refusal("http://u:secretpw@example.com/")).toBe("drain URLs must be syslog://, syslog+tls:// or https://, not http://");
    expect(refusal("ftp://example.com")).toContain("not ftp://");
    expect(refusal("udp://example.com:514")).toContain("not udp://");
    expect(refusal("syslog://logs.example.com")).toContain("need a port");
    expect(refusal("syslog://logs.example.com:0")).toContain("port");
    expect(refusal("syslog://logs.example.com:70000")).toBe("the drain URL is not a URL");
    expect(refusal("syslog://u:secretpw@logs.example.com:514")).toBe("syslog:// drains take no user or password");
    expect(refusal("syslog://logs.example.com:514/path")).toContain("only a host and a port");
    expect(refusal("https://")).toBe("the drain URL is not a URL");
    expect(refusal("not a url")).toContain("spaces");
    expect(refusal("")).toBe("a drain needs a URL");
    expect(refusal(42)).toBe("a drain needs a URL");
    expect(refusal(`https://example.com/${"a".repeat(3000)}`)).toContain("at most");
    for (const bad of ["http://u:secretpw@example.com/", "syslog://u:secretpw@logs.example.com:514"]) expect(refusal(bad)).not.toContain("secretpw");
  });

  test("redaction hides credentials and query strings", () => {
    expect(redactUrl("https://user:pw@logs.example.com/ingest?token=abc")).toBe("https://[REDACTED]@logs.example.com/ingest?[REDACTED]");
    expect(redactUrl("syslog+tls://logs.example.com:6514")).toBe("syslog+tls://logs.example.com:6514");
    expect(redactUrl("https://logs.example.com")).toBe("https://logs.example.com");
    expect(redactUrl("::")).toBe("[REDACTED]");
  });
});

describe("syslog", () => {
  const entry = { time: "2026-11-26T17:00:00.123Z", source: "app" as const, replica: "web.1", line: "hello wörld" };

  test("RFC 5424 message: app as HOSTNAME, source as APP-NAME, replica as PROCID", () => {
    expect(syslogMessage("myapp", entry)).toBe("<190>1 2026-11-26T17:00:00.123Z myapp app web.1 - - hello wörld");
    expect(syslogMessage("myapp", { ...entry, replica: "" })).toBe("<190>1 2026-11-26T17:00:00.123Z myapp app - - - hello wörld");
  });

  test("RFC 6587 octet counting counts bytes, and parses back", () => {
    const msg = syslogMessage("myapp", entry);
    const frame = octetFrame(msg);
    expect(frame).toBe(`${Buffer.byteLength(msg)} ${msg}`);
    const two = Buffer.from(frame + frame);
    expect(parseFrames(two.subarray(0, two.length - 3))).toMatchObject({ messages: [msg] });
    expect(parseFrames(two).messages).toEqual([msg, msg]);
  });
});
