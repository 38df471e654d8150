import { normalizeHost } from "../router/hostname.ts";
import { CHALLENGE_PATH, pathOf } from "./challenges.ts";

/**
 * A 308 to the same URL over HTTPS when the Host has a certificate being
 * served; null otherwise (and always for ACME challenges). 308 keeps the
 * method and body, so a POST is repeated over HTTPS.
 */
export function redirectToHttps(req: Request, secured: ReadonlySet<string>, httpsPort: number): Response | null {
  const host = req.headers.get("host");
  if (!host) return null;
  const name = normalizeHost(host);
  if (!secured.has(name)) return null;
  const url = req.url;
  if (pathOf(url).startsWith(CHALLENGE_PATH)) return null;
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const path = start < 0 ? "/" : url.slice(start);
  const authority = httpsPort === 443 ? name : `${name}:${httpsPort}`;
  return new Response(null, { status: 308, headers: { location: `https://${authority}${path}` } });
}
