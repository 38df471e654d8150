import { expect, test } from "bun:test";
import { append } from "./socket-bytes.ts";

test("append grows by doubling: 64 KiB arriving a byte at a time is copied into a handful of buffers, and nothing is lost", () => {
  let buf: Buffer = Buffer.from("G");
  const stores = new Set<ArrayBufferLike>();
  for (let i = 1; i < 65_536; i++) {
    buf = append(buf, Buffer.from([97 + (i % 26)]));
    stores.add(buf.buffer);
  }
  expect(buf.length).toBe(65_536);
  expect(buf[0]).toBe(71);
  expect(buf[65_535]).toBe(97 + (65_535 % 26));
  expect(stores.size).toBeLessThanOrEqual(6); // 4 KiB, 8, 16, 32, 64: a copy of everything per byte would make 65,535
});

test("append never writes into bytes past a view it was not given: a slice of someone else's buffer is copied", () => {
  const shared = Buffer.from("headBODY");
  const head = shared.subarray(0, 4);
  const grown = append(head, Buffer.from("XX"));
  expect(grown.toString()).toBe("headXX");
  expect(shared.toString()).toBe("headBODY");
  // and a grown buffer sliced to its tail keeps growing in place
  const tail = grown.subarray(4);
  const more = append(tail, Buffer.from("YY"));
  expect(more.toString()).toBe("XXYY");
  expect(more.buffer).toBe(grown.buffer);
});
