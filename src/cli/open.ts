import { BeamstalkError } from "../lib/errors.ts";
import { exec } from "../lib/exec.ts";
import { enc } from "./context.ts";
import { command } from "./define.ts";

export const open = command({
  name: "open",
  description: "Print the app's URL; with --browser, also open it with xdg-open (when it is installed)",
  app: true,
  args: { browser: { type: "boolean", description: "open the URL in a browser with xdg-open" } },
  async run(args, cli) {
    const name = await cli.app();
    const app = await cli.client().get<{ url?: string }>(`/api/apps/${enc(name)}`);
    const url = webUrl(app.url);
    if (!url) throw new BeamstalkError("not_found", `${name} has no URL`, "the server has no base domain; add one with `beamstalk domains:add`");
    process.stdout.write(url + "\n");
    if (!args.browser) return;
    const opener = Bun.which("xdg-open");
    if (!opener) throw new BeamstalkError("usage", "xdg-open is not installed, so no browser was opened", "open the URL above yourself, or install xdg-utils");
    // The URL is its own argv element and starts with http(s)://, so it cannot be read as an option.
    const res = await exec([opener, url], { timeoutMs: 30_000 });
    if (res.code !== 0) throw new BeamstalkError("internal", `xdg-open failed (exit ${res.code})${res.stderr ? `: ${res.stderr.trim().slice(0, 200)}` : ""}`);
  },
});

/** Only an http(s) URL is printed or handed to xdg-open. */
function webUrl(raw: string | undefined): string | null {
  if (!raw) return null;
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? raw : null;
  } catch {
    return null;
  }
}
