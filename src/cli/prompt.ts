import { BeamstalkError } from "../lib/errors.ts";

/** Reads one line from a terminal; `hidden` echoes nothing (passwords). */
export async function prompt(question: string, options: { hidden?: boolean } = {}): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    throw new BeamstalkError("usage", `${question.replace(/:\s*$/, "")} is required`, "pass it as a flag when not running in a terminal");
  }
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding("utf8");
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = "";
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            process.stderr.write("\n");
            return resolve(value);
          }
          if (ch === "\u0003") {
            stdin.off("data", onData);
            process.stderr.write("\n");
            return reject(new BeamstalkError("usage", "cancelled"));
          }
          if (ch === "\u007f" || ch === "\b") {
            if (value.length > 0) {
              value = value.slice(0, -1);
              if (!options.hidden) process.stderr.write("\b \b");
            }
            continue;
          }
          value += ch;
          if (!options.hidden) process.stderr.write(ch);
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

/** All of standard input, trimmed of one trailing newline (for --password-stdin and config:set --stdin). */
export async function readStdin(): Promise<string> {
  const text = await new Response(Bun.stdin.stream()).text();
  return text.replace(/\r?\n$/, "");
}

/**
 * A line typed on a terminal (shown as typed), or else the next line of
 * standard input, so that a script (or a test acting as the user) can answer
 * a question it only knows the answer to after reading the output before it.
 */
export async function askLine(question: string): Promise<string> {
  if (process.stdin.isTTY) return prompt(question);
  const line = await nextLine();
  if (line === null) {
    throw new BeamstalkError("usage", `${question.replace(/:\s*$/, "")} is required`, "run this in a terminal, or write the answer as a line on standard input");
  }
  return line;
}

function nextLine(): Promise<string | null> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    let seen = "";
    const finish = (line: string | null) => {
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.pause();
      resolve(line);
    };
    const onData = (chunk: string) => {
      seen += chunk;
      const end = seen.indexOf("\n");
      if (end >= 0) finish(seen.slice(0, end).replace(/\r$/, ""));
    };
    const onEnd = () => finish(seen === "" ? null : seen);
    stdin.setEncoding("utf8");
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.resume();
  });
}
