/**
 * Byte plumbing for Bun sockets (the router's front, the node agent): writes
 * that queue what a socket did not take (Bun's socket.write returns how much
 * it took), and a read buffer that grows by doubling.
 */

/** Anything with Bun's socket write: returns the bytes taken. */
export interface Writable {
  write(data: Uint8Array): number;
}

/** Where a writer keeps what its socket has not taken yet. */
export interface Outbox {
  out: Uint8Array[] | null;
}

/** Writes, or queues what the socket did not take; false when something is queued. */
export function put(sock: Writable | null, box: Outbox, data: Uint8Array): boolean {
  if (box.out !== null || sock === null) {
    (box.out ??= []).push(data);
    return false;
  }
  const n = sock.write(data);
  if (n === data.length) return true;
  box.out = [n > 0 ? data.subarray(n) : data];
  return false;
}

/** Writes what is queued; true once nothing is left. */
export function flush(sock: Writable, box: Outbox): boolean {
  const out = box.out;
  if (out === null) return true;
  while (out.length > 0) {
    const data = out[0]!;
    const n = sock.write(data);
    if (n < data.length) {
      out[0] = n > 0 ? data.subarray(n) : data;
      return false;
    }
    out.shift();
  }
  box.out = null;
  return true;
}

/** Buffers made by append(): the bytes after their contents are free to write into. */
const grown = new WeakSet<ArrayBufferLike>();

/**
 * `buf` then `chunk`, in a buffer that grows by doubling: a head that trickles
 * in a byte at a time costs linear time, not a copy of everything per byte.
 */
export function append(buf: Buffer, chunk: Buffer): Buffer {
  const length = buf.length + chunk.length;
  const end = buf.byteOffset + buf.length;
  if (grown.has(buf.buffer) && buf.buffer.byteLength - end >= chunk.length) {
    const view = Buffer.from(buf.buffer, buf.byteOffset, length);
    view.set(chunk, buf.length);
    return view;
  }
  const next = Buffer.allocUnsafeSlow(Math.max(length, buf.length * 2, 4096));
  grown.add(next.buffer);
  next.set(buf, 0);
  next.set(chunk, buf.length);
  return next.subarray(0, length);
}

/** The bytes of `buf` from `at` on, or null when there are none (taken only where needed: most answers are passed on whole). */
export function after(buf: Buffer, at: number): Buffer | null {
  return buf.length > at ? buf.subarray(at) : null;
}
