/** Where ACME HTTP-01 challenges are asked for (RFC 8555 §8.3). */
export const CHALLENGE_PATH = "/.well-known/acme-challenge/";

/**
 * The HTTP-01 answers in flight: token → key authorization. The HTTP listener
 * asks `respond` first; it answers only tokens it holds, for any host name.
 */
export class Challenges {
  readonly #answers = new Map<string, string>();

  set(token: string, keyAuthorization: string): void {
    this.#answers.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.#answers.delete(token);
  }

  /** The answer to a challenge request, a 404 for an unknown token, or null when the path is not a challenge. */
  respond(req: Request): Response | null {
    const path = pathOf(req.url);
    if (!path.startsWith(CHALLENGE_PATH)) return null;
    const answer = this.#answers.get(path.slice(CHALLENGE_PATH.length));
    if (answer === undefined) return new Response("no such challenge\n", { status: 404, headers: { "content-type": "text/plain" } });
    return new Response(answer, { headers: { "content-type": "application/octet-stream", "cache-control": "no-store" } });
  }
}

/** The path of an absolute request URL, without parsing the whole URL. */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}
