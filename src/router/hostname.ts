/**
 * The host name a request is for, as the route table keys it: lower case,
 * no port, no trailing dot. `[::1]:8080` gives `::1`.
 */
export function normalizeHost(host: string): string {
  let name = host;
  if (name.startsWith("[")) {
    const end = name.indexOf("]");
    name = end > 0 ? name.slice(1, end) : name.slice(1);
  } else {
    const colon = name.indexOf(":");
    if (colon >= 0) name = name.slice(0, colon);
  }
  if (name.endsWith(".")) name = name.slice(0, -1);
  return name.toLowerCase();
}
