import { expect, test } from "bun:test";
import { logLines } from "./log-lines.ts";

function frame(stream: 1 | 2, text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + payload.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, payload.length);
  out.set(payload, 8);
  return out;
}

test("splits multiplexed frames into lines per stream, across chunk boundaries", async () => {
  const bytes = new Uint8Array([...frame(1, "one\ntw"), ...frame(2, "err ☃\n"), ...frame(1, "o\nlast")]);
  const chunks = [bytes.subarray(0, 3), bytes.subarray(3, 17), bytes.subarray(17, 29), bytes.subarray(29)];
  const lines = [];
  for await (const line of logLines(chunks)) lines.push(line);
  expect(lines).toEqual([
    { stream: "stdout", line: "one" },
    { stream: "stderr", line: "err ☃" },
    { stream: "stdout", line: "two" },
    { stream: "stdout", line: "last" },
  ]);
});
