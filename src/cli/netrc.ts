import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";

/**
 * ~/.netrc, the way the GIGALIXIR CLI keeps its key: `machine HOST login EMAIL
 * password KEY`. git's HTTP transport reads the same entry, so `git push` to
 * the server just works. Other entries and their formatting are kept as they are.
 */
export interface NetrcEntry {
  login: string;
  password: string;
}

interface Block {
  machine: string | null; // null for `default`
  start: number;
  end: number;
  tokens: string[];
}

function blocks(text: string): Block[] {
  const tokens: { value: string; start: number }[] = [];
  const re = /\S+/g;
  for (let m = re.exec(text); m; m = re.exec(text)) tokens.push({ value: m[0], start: m.index });
  const out: Block[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.value === "machine" || t.value === "default") {
      const prev = out.at(-1);
      if (prev) prev.end = t.start;
      const machine = t.value === "machine" ? (tokens[i + 1]?.value ?? "") : null;
      out.push({ machine, start: t.start, end: text.length, tokens: [] });
      if (t.value === "machine") i++;
    } else {
      out.at(-1)?.tokens.push(t.value);
    }
  }
  return out;
}

export function parseEntry(text: string, host: string): NetrcEntry | null {
  const block = blocks(text).find((b) => b.machine === host) ?? blocks(text).find((b) => b.machine === null);
  if (!block) return null;
  const get = (name: string) => {
    const i = block.tokens.indexOf(name);
    return i >= 0 ? block.tokens[i + 1] : undefined;
  };
  const password = get("password");
  return password ? { login: get("login") ?? "", password } : null;
}

export function withEntry(text: string, host: string, entry: NetrcEntry | null): string {
  const found = blocks(text).find((b) => b.machine === host);
  const fresh = entry ? `machine ${host}\n  login ${entry.login}\n  password ${entry.password}\n` : "";
  if (found) return text.slice(0, found.start) + fresh + text.slice(found.end);
  if (!entry) return text;
  return text + (text && !text.endsWith("\n") ? "\n" : "") + fresh;
}

export class Netrc {
  constructor(readonly path: string) {}

  get(host: string): NetrcEntry | null {
    return existsSync(this.path) ? parseEntry(readFileSync(this.path, "utf8"), host) : null;
  }

  set(host: string, entry: NetrcEntry | null): void {
    const before = existsSync(this.path) ? readFileSync(this.path, "utf8") : "";
    if (!entry && !before) return;
    writeFileSync(this.path, withEntry(before, host, entry), { mode: 0o600 });
    chmodSync(this.path, 0o600);
  }
}
