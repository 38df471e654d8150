import { concat } from "../../lib/bytes.ts";

export type Stream = "stdout" | "stderr";

/**
 * Splits Docker's multiplexed stream (no TTY: 8-byte frame headers, byte 0 =
 * 1 stdout / 2 stderr, bytes 4-7 = payload size) into payloads, bytes as
 * written: a job's partial lines and binary output pass through untouched.
 */
export async function* frames(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<{ stream: Stream; bytes: Uint8Array }> {
  let buffer: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks) {
    buffer = buffer.length === 0 ? chunk : concat(buffer, chunk);
    let offset = 0;
    while (buffer.length - offset >= 8) {
      const size = new DataView(buffer.buffer, buffer.byteOffset + offset + 4, 4).getUint32(0);
      if (buffer.length - offset < 8 + size) break;
      const stream = buffer[offset] === 2 ? "stderr" : "stdout";
      if (size > 0) yield { stream, bytes: buffer.slice(offset + 8, offset + 8 + size) };
      offset += 8 + size;
    }
    buffer = buffer.slice(offset);
  }
}

const BOOT_PREFIX = "beamstalk-boot: ";
const READY_LINE = "beamstalk-boot: starting process";
const ERROR_PREFIX = "beamstalk-boot: error: ";

/**
 * Leaves the boot script's own lines out of a job's output (they are for the
 * runner, not for `beamstalk run`), except its error line, which says why the
 * job never started. Once the process starts, everything passes as is.
 */
export class BootFilter {
  #started = false;
  #partial = "";
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();

  constructor(private readonly out: (chunk: Uint8Array, stream: Stream) => void) {}

  get started(): boolean {
    return this.#started;
  }

  push(stream: Stream, bytes: Uint8Array): void {
    if (this.#started || stream === "stdout") return this.out(bytes, stream);
    const text = this.#partial + this.#decoder.decode(bytes, { stream: true });
    const lines = text.split("\n");
    this.#partial = lines.pop()!;
    for (const [i, line] of lines.entries()) {
      if (line === READY_LINE) {
        this.#started = true;
        const rest = [...lines.slice(i + 1), this.#partial].join("\n");
        this.#partial = "";
        if (rest !== "") this.out(this.#encoder.encode(rest), "stderr");
        return;
      }
      if (!line.startsWith(BOOT_PREFIX) || line.startsWith(ERROR_PREFIX)) this.out(this.#encoder.encode(line + "\n"), "stderr");
    }
  }

  /** Whatever is still held at the end (an unfinished line). */
  flush(): void {
    const rest = this.#partial + this.#decoder.decode();
    this.#partial = "";
    if (rest !== "") this.out(this.#encoder.encode(rest), "stderr");
  }
}
