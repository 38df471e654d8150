import { HttpParseError, MAX_HEAD } from "./http1.ts";

/**
 * Where a chunked body ends (RFC 9112 §7.1), for the front, which passes the
 * body on as it came and only needs to know where the next message starts.
 * Strict like http1.ts: a bad size, a chunk longer than its size, a bare LF
 * or an overlong line throws HttpParseError.
 */

const enum Chunk {
  Size,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  EndLf,
  Done,
}

/**
 * Finds where a chunked body ends, across as many reads as it takes. feed()
 * returns the offset just past the body's last byte (trailers included) in
 * this chunk, or -1 when the whole chunk belongs to the body.
 */
export class ChunkedDecoder {
  #state = Chunk.Size;
  #remaining = 0;
  #digits = 0;
  #lineBytes = 0;

  get done(): boolean {
    return this.#state === Chunk.Done;
  }

  /** Moves to `next` if `byte` is the one expected here. */
  #step(byte: number | undefined, want: number, next: Chunk, message: string): void {
    if (byte !== want) throw new HttpParseError(message);
    this.#state = next;
  }

  feed(bytes: Uint8Array, start = 0): number {
    let i = start;
    const n = bytes.length;
    while (i < n) {
      switch (this.#state) {
        case Chunk.Data: {
          const take = Math.min(this.#remaining, n - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = Chunk.DataCr;
          continue;
        }
        case Chunk.Size: {
          const c = bytes[i]!;
          const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (digit >= 0) {
            if (++this.#digits > 12) throw new HttpParseError("chunk too large");
            this.#remaining = this.#remaining * 16 + digit;
          } else if (this.#digits === 0) {
            throw new HttpParseError("bad chunk size");
          } else if (c === 13) {
            this.#state = Chunk.SizeLf;
          } else if (c === 59 || c === 32 || c === 9) {
            this.#state = Chunk.Extension;
            this.#lineBytes = 0;
          } else {
            throw new HttpParseError("bad chunk size");
          }
          break;
        }
        case Chunk.Extension: {
          const c = bytes[i]!;
          if (c === 13) this.#state = Chunk.SizeLf;
          else if (c === 10 || c === 0 || ++this.#lineBytes > 4096) throw new HttpParseError("bad chunk extension");
          break;
        }
        case Chunk.SizeLf:
          if (bytes[i] !== 10) throw new HttpParseError("bad chunk line ending");
          this.#digits = 0;
          if (this.#remaining === 0) {
            this.#state = Chunk.TrailerStart;
          } else {
            this.#state = Chunk.Data;
          }
          break;
        case Chunk.DataCr:
          this.#step(bytes[i], 13, Chunk.DataLf, "chunk longer than its size");
          break;
        case Chunk.DataLf:
          this.#step(bytes[i], 10, Chunk.Size, "bad chunk line ending");
          break;
        case Chunk.TrailerStart:
          if (bytes[i] === 13) {
            this.#state = Chunk.EndLf;
          } else {
            this.#state = Chunk.Trailer;
            this.#lineBytes = 0;
            continue;
          }
          break;
        case Chunk.Trailer: {
          const c = bytes[i]!;
          if (c === 13) this.#state = Chunk.TrailerLf;
          else if (c === 10 || c === 0 || ++this.#lineBytes > MAX_HEAD) throw new HttpParseError("bad trailer");
          break;
        }
        case Chunk.TrailerLf:
          this.#step(bytes[i], 10, Chunk.TrailerStart, "bad trailer line ending");
          break;
        case Chunk.EndLf:
          this.#step(bytes[i], 10, Chunk.Done, "bad chunked ending");
          return i + 1;
        case Chunk.Done:
          return i;
      }
      i++;
    }
    return -1;
  }
}
