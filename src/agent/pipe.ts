import type { Socket } from "bun";
import { type Outbox, flush, put } from "../lib/socket-bytes.ts";

/** One end of a two-way byte pipe between Bun sockets (both opened with allowHalfOpen). */
export interface PipeEnd {
  other: Socket<PipeEnd> | null;
  /** What this end sent that the other has not taken yet (all of it until the other is there). */
  toOther: Outbox;
  /** This end sent its FIN: the other gets it once toOther is written. */
  ended: boolean;
  closed: boolean;
}

export function pipeEnd(other: Socket<PipeEnd> | null = null): PipeEnd {
  return { other, toOther: { out: null }, ended: false, closed: false };
}

/** Joins two ends: what each sent before the other was there goes first. */
export function joinPipe(a: Socket<PipeEnd>, b: Socket<PipeEnd>): void {
  a.data.other = b;
  b.data.other = a;
  passOn(a, b);
  passOn(b, a);
}

/**
 * Writes what `from` sent, then lets `from` send more, or passes on its FIN.
 * A FIN is passed on as a FIN, never as a close: ending an exec's stdin
 * half-closes the connection, and the process's output still comes back.
 * Hence shutdown(): Bun 1.4.5's end() stops reading too, even with allowHalfOpen.
 */
function passOn(from: Socket<PipeEnd>, to: Socket<PipeEnd>): void {
  if (!flush(to, from.data.toOther)) return;
  if (from.data.ended) to.shutdown();
  else from.resume();
}

/** Socket handlers for either end; a reader that cannot keep up pauses the writer. */
export const pipeHandlers = {
  data(sock: Socket<PipeEnd>, chunk: Buffer) {
    const other = sock.data.other;
    if (other?.data.closed) {
      // No one is left to read it: reset, as a write to a closed socket fails for a direct client.
      if (sock.data.toOther.out === null && other.data.toOther.out === null) sock.terminate();
      return;
    }
    if (!put(other, sock.data.toOther, chunk)) sock.pause();
  },
  drain(sock: Socket<PipeEnd>) {
    const other = sock.data.other;
    if (other !== null) passOn(other, sock);
  },
  end(sock: Socket<PipeEnd>) {
    sock.data.ended = true;
    const other = sock.data.other;
    if (other !== null && sock.data.toOther.out === null) other.shutdown();
  },
  close(sock: Socket<PipeEnd>) {
    sock.data.closed = true;
    pipeHandlers.end(sock);
  },
  error() {},
};
