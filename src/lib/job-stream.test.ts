import { describe, expect, test } from "bun:test";
import { EXIT_TIMED_OUT, JobStreamReader, jobTrailer } from "./job-stream.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Feeds a body in the given pieces; returns what was output (with the point each piece became visible) and the end. */
function read(pieces: string[]) {
  const reader = new JobStreamReader();
  let output = "";
  const seen: string[] = [];
  for (const piece of pieces) {
    output += dec(reader.push(enc(piece)));
    seen.push(output);
  }
  const { rest, end } = reader.end();
  output += dec(rest);
  return { output, seen, end };
}

/** Every way of cutting the body into two pieces gives the same result. */
function everySplit(body: string) {
  const whole = read([body]);
  for (let i = 0; i <= body.length; i++) expect(read([body.slice(0, i), body.slice(i)])).toMatchObject({ output: whole.output, end: whole.end });
  expect(read([...body])).toMatchObject({ output: whole.output, end: whole.end });
  return whole;
}

describe("job stream", () => {
  test("output without a final newline keeps it that way; the trailer gives the exit code", () => {
    expect(jobTrailer(0)).toBe("beamstalk:exit=0\n");
    expect(everySplit("a b|$(id)|c;d|" + jobTrailer(0))).toMatchObject({ output: "a b|$(id)|c;d|", end: { exitCode: 0, error: null } });
  });

  test("output ending in newlines keeps them", () => {
    expect(everySplit("hi there\n" + jobTrailer(7))).toMatchObject({ output: "hi there\n", end: { exitCode: 7, error: null } });
    expect(everySplit("\n\n" + jobTrailer(1))).toMatchObject({ output: "\n\n", end: { exitCode: 1 } });
    expect(everySplit(jobTrailer(0))).toMatchObject({ output: "", end: { exitCode: 0 } });
  });

  test("an error line travels with the exit code, on one line", () => {
    expect(jobTrailer(124, "killed\nafter 300 s")).toBe("beamstalk:error=killed after 300 s\nbeamstalk:exit=124\n");
    const body = "partial" + jobTrailer(EXIT_TIMED_OUT, "killed after 300 s\n(time limit)");
    expect(everySplit(body)).toMatchObject({ output: "partial", end: { exitCode: 124, error: "killed after 300 s (time limit)" } });
  });

  test("output that looks like a trailer is output unless it ends the stream", () => {
    const fake = "beamstalk:exit=0\n";
    expect(everySplit(fake + "more\n" + jobTrailer(3))).toMatchObject({ output: fake + "more\n", end: { exitCode: 3 } });
    expect(everySplit("x beamstalk:exit=1\n" + jobTrailer(2))).toMatchObject({ output: "x beamstalk:exit=1\n", end: { exitCode: 2 } });
    expect(everySplit("beamstalk:error=a\nx\n" + jobTrailer(0))).toMatchObject({ output: "beamstalk:error=a\nx\n", end: { exitCode: 0, error: null } });
    // Output whose last line reads like an error line is taken for one; the exit code stays the server's.
    expect(everySplit("beamstalk:error=b\n" + jobTrailer(0))).toMatchObject({ output: "", end: { exitCode: 0, error: "b" } });
  });

  test("a stream cut before its trailer gives back everything as output, and no end", () => {
    expect(read(["abc\nbeamstalk:ex"])).toMatchObject({ output: "abc\nbeamstalk:ex", end: null });
    expect(read(["abc\n"])).toMatchObject({ output: "abc\n", end: null });
  });

  test("output is given back as it arrives, newlines at once; only what may start the trailer waits", () => {
    const { seen } = read(["line one\n", "line two\nbeams", "talk is a word\n", "tail b"]);
    expect(seen).toEqual(["line one\n", "line one\nline two\n", "line one\nline two\nbeamstalk is a word\n", "line one\nline two\nbeamstalk is a word\ntail "]);
  });

  test("binary output passes through byte for byte", () => {
    const reader = new JobStreamReader();
    const bytes = new Uint8Array([0, 255, 10, 254, 98]);
    const out = [...reader.push(bytes), ...reader.push(enc(jobTrailer(0)))];
    const { rest, end } = reader.end();
    expect([...out, ...rest]).toEqual([0, 255, 10, 254, 98]);
    expect(end).toEqual({ exitCode: 0, error: null });
  });
});
