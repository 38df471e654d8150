import { describe, expect, test } from "bun:test";
import { BootFilter, type Stream, frames } from "./job-output.ts";

const frame = (stream: Stream, text: string | Uint8Array) => {
  const payload = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const out = new Uint8Array(8 + payload.length);
  out[0] = stream === "stdout" ? 1 : 2;
  new DataView(out.buffer).setUint32(4, payload.length);
  out.set(payload, 8);
  return out;
};

const joined = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

async function collect(chunks: Uint8Array[]) {
  const out: { stream: Stream; bytes: number[] }[] = [];
  for await (const f of frames(chunks)) out.push({ stream: f.stream, bytes: [...f.bytes] });
  return out;
}

describe("frames", () => {
  test("gives payloads as written, across chunk boundaries, binary and partial lines included", async () => {
    const all = joined(frame("stdout", "a b|"), frame("stderr", "err\n"), frame("stdout", new Uint8Array([0, 255, 10])));
    const expected: { stream: Stream; bytes: number[] }[] = [
      { stream: "stdout", bytes: [...new TextEncoder().encode("a b|")] },
      { stream: "stderr", bytes: [...new TextEncoder().encode("err\n")] },
      { stream: "stdout", bytes: [0, 255, 10] },
    ];
    expect(await collect([all])).toEqual(expected);
    expect(await collect([all.slice(0, 3), all.slice(3, 13), all.slice(13)])).toEqual(expected);
    expect(await collect([...all].map((b) => new Uint8Array([b])))).toEqual(expected);
  });
});

describe("BootFilter", () => {
  function filtered(pushes: [Stream, string][]) {
    const out: string[] = [];
    const filter = new BootFilter((chunk, stream) => out.push(`${stream}:${new TextDecoder().decode(chunk)}`));
    for (const [stream, text] of pushes) filter.push(stream, new TextEncoder().encode(text));
    filter.flush();
    return out;
  }

  test("drops the boot script's lines, then passes everything through as is", () => {
    expect(
      filtered([
        ["stderr", "beamstalk-boot: unpacked slug into /app (7 entries)\n"],
        ["stderr", "beamstalk-boot: starting process\n"],
        ["stdout", "a b|"],
        ["stderr", "beamstalk-boot: looks like ours but is the app's\n"],
      ]),
    ).toEqual(["stdout:a b|", "stderr:beamstalk-boot: looks like ours but is the app's\n"]);
  });

  test("keeps the boot error line (why the job never started) and the app's own stderr before it starts", () => {
    expect(
      filtered([
        ["stderr", "profile says hi\nbeamstalk-boot: error: slug at /x is not a valid gzip archive\n"],
      ]),
    ).toEqual(["stderr:profile says hi\n", "stderr:beamstalk-boot: error: slug at /x is not a valid gzip archive\n"]);
  });

  test("a boot line split across writes is still recognised; what follows the ready line passes", () => {
    expect(filtered([["stderr", "beamstalk-boot: start"], ["stderr", "ing process\nfirst"], ["stdout", "x"]])).toEqual(["stderr:first", "stdout:x"]);
  });

  test("an unfinished line at the end is flushed", () => {
    expect(filtered([["stderr", "half a line"]])).toEqual(["stderr:half a line"]);
  });
});
