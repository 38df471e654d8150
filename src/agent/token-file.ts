import { readFileSync } from "node:fs";
import { BeamstalkError } from "../lib/errors.ts";
import { Secret } from "../lib/secret.ts";

const MIN_LENGTH = 32;

/**
 * The token from its file, one line. A token short enough to guess, or with
 * bytes that cannot travel in a header, is refused at start rather than
 * accepted and never matched.
 */
export function readTokenFile(path: string): Secret {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new BeamstalkError("bad_request", `cannot read the agent token file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, "create it as a Docker secret: openssl rand -hex 32 | docker secret create beamstalk-agent-token -");
  }
  const token = text.replace(/\r?\n$/, "");
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new BeamstalkError("bad_request", `the agent token file ${path} must hold one line of printable ASCII without spaces`);
  }
  if (token.length < MIN_LENGTH) {
    throw new BeamstalkError("bad_request", `the agent token in ${path} is ${token.length} characters; at least ${MIN_LENGTH} are needed`, "openssl rand -hex 32");
  }
  return new Secret(token);
}
