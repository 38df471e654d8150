import { concat } from "../../lib/bytes.ts";
import type { Readable } from "node:stream";
import type { LogLine } from "../types.ts";

/**
 * Splits Docker's multiplexed log stream (no TTY: 8-byte frame headers, byte 0
 * = 1 stdout / 2 stderr, bytes 4-7 = payload size) into lines per stream.
 */
export async function* logLines(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<LogLine> {
  let buffer: Uint8Array = new Uint8Array(0);
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  const partial = { stdout: "", stderr: "" };
  for await (const chunk of chunks) {
    buffer = concat(buffer, chunk);
    let offset = 0;
    while (buffer.length - offset >= 8) {
      const size = new DataView(buffer.buffer, buffer.byteOffset + offset + 4, 4).getUint32(0);
      if (buffer.length - offset < 8 + size) break;
      const stream = buffer[offset] === 2 ? "stderr" : "stdout";
      const text = partial[stream] + decoders[stream].decode(buffer.subarray(offset + 8, offset + 8 + size), { stream: true });
      offset += 8 + size;
      const lines = text.split("\n");
      partial[stream] = lines.pop()!;
      for (const line of lines) yield { stream, line };
    }
    buffer = buffer.slice(offset);
  }
  for (const stream of ["stdout", "stderr"] as const) {
    const rest = partial[stream] + decoders[stream].decode();
    if (rest !== "") yield { stream, line: rest };
  }
}

/** A followed log stream's lines until it ends or `signal` aborts (then it ends quietly); the stream is always destroyed. */
export async function* followLines(stream: Readable, signal?: AbortSignal): AsyncGenerator<LogLine> {
  const abort = () => stream.destroy();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    yield* logLines(stream);
  } catch (err) {
    if (!signal?.aborted) throw err;
  } finally {
    signal?.removeEventListener("abort", abort);
    stream.destroy();
  }
}
