import { concat } from "./bytes.ts";

/**
 * The body of POST /api/apps/:app/run: the job's output, bytes as written
 * (stdout and stderr interleaved as they arrive), then a trailer the server
 * always appends, in the `beamstalk:exit=<n>` convention of the push protocol:
 *
 *     <output…>[beamstalk:error=<why, one line>\n]beamstalk:exit=<n>\n
 *
 * The trailer follows the output directly: on its own line when the output
 * ends with a newline (the usual case), right after the last byte when it does
 * not, so a reader gives back the output exactly and never has to hold back a
 * newline. Only the end of the stream counts: output that looks like a trailer
 * cannot fake the exit code.
 */

/** A job killed at its time limit (as GNU timeout). */
export const EXIT_TIMED_OUT = 124;
/** The job could not be run at all (as `docker run`). */
export const EXIT_NOT_RUN = 125;

const ERROR = "beamstalk:error=";
const EXIT = "beamstalk:exit=";
const PREFIX = "beamstalk:";
const TRAILER = /^(?:beamstalk:error=([^\n]*)\n)?beamstalk:exit=(\d{1,3})\n$/;
const MAX_TRAILER_BYTES = 2048;

export function jobTrailer(exitCode: number, error?: string): string {
  const why = error ? `${ERROR}${error.replace(/[\r\n]+/g, " ").slice(0, 1000)}\n` : "";
  return `${why}${EXIT}${exitCode}\n`;
}

export interface JobEnd {
  exitCode: number;
  error: string | null;
}

/** Splits a job response into output (given back as it arrives) and its trailer. */
export class JobStreamReader {
  #held: Uint8Array = new Uint8Array(0);

  /** Returns the bytes that are output for sure; holds back only what may be the start of the trailer. */
  push(chunk: Uint8Array): Uint8Array {
    const buffer = concat(this.#held, chunk);
    const at = trailerStart(buffer);
    this.#held = at === -1 ? new Uint8Array(0) : buffer.slice(at);
    return at === -1 ? buffer : buffer.subarray(0, at);
  }

  /** At the end of the stream: the trailer, or null (and the held bytes are output) when there was none. */
  end(): { rest: Uint8Array; end: JobEnd | null } {
    const held = this.#held;
    this.#held = new Uint8Array(0);
    const match = TRAILER.exec(new TextDecoder().decode(held));
    if (!match) return { rest: held, end: null };
    return { rest: new Uint8Array(0), end: { exitCode: Number(match[2]), error: match[1] ?? null } };
  }
}

/** The earliest position in the last MAX_TRAILER_BYTES from which the rest may be (the start of) a trailer, or -1. */
function trailerStart(buffer: Uint8Array): number {
  for (let i = Math.max(0, buffer.length - MAX_TRAILER_BYTES); i < buffer.length; i++) {
    if (startsLikeTrailer(buffer, i) && couldBeTrailer(latin1(buffer.subarray(i)))) return i;
  }
  return -1;
}

/** A cheap first check: the bytes from i agree with "beamstalk:" as far as they go. */
function startsLikeTrailer(buffer: Uint8Array, i: number): boolean {
  for (let k = 0; k < PREFIX.length && i + k < buffer.length; k++) if (buffer[i + k] !== PREFIX.charCodeAt(k)) return false;
  return true;
}

function couldBeTrailer(text: string): boolean {
  let rest = text;
  if (rest.startsWith(ERROR)) {
    const end = rest.indexOf("\n");
    if (end === -1) return true;
    rest = rest.slice(end + 1);
  } else if (ERROR.startsWith(rest)) {
    return true;
  }
  if (rest.length <= EXIT.length) return EXIT.startsWith(rest);
  return rest.startsWith(EXIT) && /^(?:\d{1,3}\n?)?$/.test(rest.slice(EXIT.length));
}

function latin1(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += String.fromCharCode(b);
  return out;
}
