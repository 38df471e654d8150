import { concat } from "../lib/bytes.ts";

/**
 * Splits a CGI program's output into its header block and the body that
 * follows, without waiting for the body: the rest streams on as it comes.
 */
export interface CgiResponse {
  status: number;
  headers: Headers;
  body: ReadableStream<Uint8Array>;
}

const MAX_HEADER_BYTES = 64 * 1024;

export async function readCgiResponse(stdout: ReadableStream<Uint8Array>, onBytes: () => void = () => {}): Promise<CgiResponse> {
  const reader = stdout.getReader();
  let buffered: Uint8Array = new Uint8Array(0);
  let end = -1;
  let separator = 0;
  while (end < 0) {
    const { done, value } = await reader.read();
    if (done) throw new Error("CGI program ended before its headers");
    onBytes();
    buffered = concat(buffered, value);
    [end, separator] = headerEnd(buffered);
    if (end < 0 && buffered.length > MAX_HEADER_BYTES) throw new Error("CGI header block too large");
  }
  const { status, headers } = parseHeaders(new TextDecoder().decode(buffered.subarray(0, end)));
  const rest = buffered.subarray(end + separator);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (rest.length > 0) controller.enqueue(rest);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else {
        onBytes();
        controller.enqueue(value);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { status, headers, body };
}

export function parseHeaders(block: string): { status: number; headers: Headers } {
  const headers = new Headers();
  let status = 200;
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") {
      const code = Number.parseInt(value, 10);
      if (code >= 100 && code <= 599) status = code;
    } else {
      headers.append(name, value);
    }
  }
  return { status, headers };
}

/** Index of the blank line ending the headers and the length of that separator. */
function headerEnd(bytes: Uint8Array): [number, number] {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 10) continue;
    if (bytes[i + 1] === 10) return [i, 2];
    if (bytes[i + 1] === 13 && bytes[i + 2] === 10) return [i, 3];
  }
  return [-1, 0];
}
