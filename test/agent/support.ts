import type { Socket } from "bun";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PipeEnd, joinPipe, pipeEnd, pipeHandlers } from "../../src/agent/pipe.ts";

/** A fresh token in a 0600 file, as a Docker secret would hold it. */
export function tokenFile(): { token: string; path: string; dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "beamstalk-agent-"));
  const token = randomBytes(32).toString("hex");
  const path = join(dir, "beamstalk-agent-token");
  writeFileSync(path, token + "\n", { mode: 0o600 });
  return { token, path, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Exchange {
  /** Everything the server sent, as latin1 text. */
  text: string;
  /** The server closed (or half-closed) the connection. */
  closed: boolean;
  ms: number;
}

/**
 * Sends raw bytes to 127.0.0.1:port (each piece `gapMs` after the last) and
 * collects the answer until the server closes, `until` says enough, or
 * `waitMs` passes.
 */
export async function exchange(port: number, pieces: (string | Uint8Array)[], options: { gapMs?: number; waitMs?: number; until?: (text: string) => boolean; end?: boolean } = {}): Promise<Exchange> {
  const began = performance.now();
  let text = "";
  let closed = false;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, chunk) {
        text += Buffer.from(chunk).toString("latin1");
        if (options.until?.(text)) done();
      },
      end() {
        closed = true;
        done();
      },
      close() {
        closed = true;
        done();
      },
      error() {},
    },
  });
  const timer = setTimeout(done, options.waitMs ?? 3000);
  void (async () => {
    for (const piece of pieces) {
      if (closed) return;
      sock.write(piece);
      if (options.gapMs) await Bun.sleep(options.gapMs);
    }
    if (options.end) sock.shutdown();
  })();
  await finished;
  clearTimeout(timer);
  sock.end();
  return { text, closed, ms: performance.now() - began };
}

/** A request head (and body) as a client would send it. */
export function request(method: string, path: string, headers: Record<string, string>, body = ""): string {
  const lines = [`${method} ${path} HTTP/1.1`, "Host: docker", ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body) lines.push("Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`);
  return lines.join("\r\n") + "\r\n\r\n" + body;
}

/**
 * A blind pipe from 127.0.0.1:<port> to 127.0.0.1:`target` that keeps what
 * each client sent: the agent checks only a connection's first head, so the
 * test reads the rest of the stream to see the token on every request.
 */
export function startTap(target: number): { port: number; sent: Buffer[][]; stop(): void } {
  const sent: Buffer[][] = [];
  const record = new WeakMap<PipeEnd, Buffer[]>();
  const listener = Bun.listen<PipeEnd>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      ...pipeHandlers,
      open(client) {
        client.data = pipeEnd();
        record.set(client.data, sent[sent.push([]) - 1]!);
        client.pause();
        const upstream = { ...pipeHandlers, open: (up: Socket<PipeEnd>) => joinPipe(client, up) };
        void Bun.connect<PipeEnd>({ hostname: "127.0.0.1", port: target, data: pipeEnd(client), allowHalfOpen: true, socket: upstream });
      },
      data(client, chunk) {
        record.get(client.data)!.push(Buffer.from(chunk));
        pipeHandlers.data(client, chunk);
      },
    },
  });
  return { port: listener.port, sent, stop: () => listener.stop(true) };
}
