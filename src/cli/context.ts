import { BeamstalkError } from "../lib/errors.ts";
import { Secret } from "../lib/secret.ts";
import { checkAppName } from "../lib/validate.ts";
import { ApiClient } from "./client.ts";
import { appFromRemote } from "./git.ts";
import { Netrc } from "./netrc.ts";
import { printJson } from "./output.ts";
import { netrcPath, readSettings, settingsPath, writeSettings } from "./settings.ts";

/**
 * What a command needs from its surroundings: the server URL, the API key, the
 * app it acts on, and whether to print JSON. Resolved lazily, in one place.
 */
export class Cli {
  constructor(
    private readonly args: Record<string, unknown>,
    readonly env: Record<string, string | undefined> = process.env,
  ) {}

  get json(): boolean {
    return this.args.json === true;
  }

  /** --url, then BEAMSTALK_URL, then the URL remembered at login. */
  serverUrl(): string {
    const raw = (this.args.url as string | undefined) || this.env.BEAMSTALK_URL || readSettings(settingsPath(this.env)).url;
    if (!raw) {
      throw new BeamstalkError("usage", "no Beamstalk server given", "pass --url http://your-server, or set BEAMSTALK_URL");
    }
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new BeamstalkError("usage", `not a URL: ${JSON.stringify(raw)}`, "give a URL such as http://your-server");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new BeamstalkError("usage", "the server URL must be http:// or https://");
    return url.origin;
  }

  private netrc(): Netrc {
    return new Netrc(netrcPath(this.env));
  }

  /** A client with the caller's API key: BEAMSTALK_API_KEY, else ~/.netrc's entry for the server's host. */
  client(): ApiClient {
    const url = this.serverUrl();
    const key = this.env.BEAMSTALK_API_KEY || this.netrc().get(new URL(url).hostname)?.password;
    if (!key) throw new BeamstalkError("not_logged_in", `not logged in to ${url}`, "run `beamstalk login`");
    return new ApiClient({ url, apiKey: new Secret(key) });
  }

  anonymous(socket?: string): ApiClient {
    if (socket) {
      // Over the unix socket the URL only names the host in requests: none needs to be configured.
      let url = "http://localhost";
      try {
        url = this.serverUrl();
      } catch {}
      return new ApiClient({ url, socket });
    }
    return new ApiClient({ url: this.serverUrl() });
  }

  /** -a/--app, else the app of the current directory's `beamstalk` git remote. */
  async app(): Promise<string> {
    const given = this.args.app as string | undefined;
    if (given !== undefined) return checkAppName(given);
    const fromRemote = await appFromRemote();
    if (fromRemote) return fromRemote;
    throw new BeamstalkError("usage", "no app given", "pass -a APP, or run inside a repository with a `beamstalk` git remote");
  }

  /** Saves the key in ~/.netrc (so git finds it too) and remembers the URL. */
  remember(url: string, email: string, apiKey: string): void {
    this.netrc().set(new URL(url).hostname, { login: email, password: apiKey });
    writeSettings({ ...readSettings(settingsPath(this.env)), url }, settingsPath(this.env));
  }

  forget(url: string): void {
    this.netrc().set(new URL(url).hostname, null);
  }

  /** Prints data as JSON with --json, else with the given renderer. */
  print(data: unknown, render: () => void): void {
    if (this.json) printJson(data);
    else render();
  }
}

export const enc = encodeURIComponent;
