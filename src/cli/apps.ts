import { BeamstalkError } from "../lib/errors.ts";
import { enc } from "./context.ts";
import { command } from "./define.ts";
import { gitUrl, insideGitRepo, setRemote, REMOTE } from "./git.ts";
import { info, printRecord, printTable } from "./output.ts";

interface AppJson {
  name: string;
  owner: string;
  role: string;
  created_at: string;
  url?: string;
  release?: number | null;
}

export const apps = command({
  name: "apps",
  description: "List the apps you can use",
  data: true,
  async run(_args, cli) {
    const list = await cli.client().get<AppJson[]>("/api/apps");
    cli.print(list, () => printTable(list as unknown as Record<string, unknown>[], ["name", "role", "owner", "url"], "You have no apps yet: beamstalk apps:create"));
  },
});

export const appsCreate = command({
  name: "apps:create",
  aliases: ["create"],
  description: "Create an app (a name is generated when none is given); in a git repository, adds the `beamstalk` remote",
  args: { name: { type: "positional", required: false, description: "app name: a-z, 0-9 and '-', 2-63 characters" } },
  data: true,
  async run(args, cli) {
    const client = cli.client();
    const app = await client.post<AppJson>("/api/apps", args.name ? { name: args.name } : {});
    const git = gitUrl(client.url, app.name);
    let remote: string | null = null;
    if (await insideGitRepo()) remote = await setRemote(git);
    cli.print({ ...app, git_url: git }, () => {
      process.stdout.write(app.name + "\n");
      info(`Created ${app.name}${app.url ? ` at ${app.url}` : ""}; git ${git}${remote ? ` (remote ${REMOTE} ${remote})` : ""}`);
    });
  },
});

export const appsInfo = command({
  name: "apps:info",
  description: "Show an app",
  app: true,
  data: true,
  async run(_args, cli) {
    const client = cli.client();
    const name = await cli.app();
    const app = await client.get<AppJson>(`/api/apps/${enc(name)}`);
    const out = { ...app, git_url: gitUrl(client.url, app.name) };
    cli.print(out, () =>
      printRecord({ name: out.name, owner: out.owner, role: out.role, url: out.url, git: out.git_url, release: out.release, created: out.created_at }),
    );
  },
});

export const appsDestroy = command({
  name: "apps:destroy",
  description: "Destroy an app and everything it has (config, releases, repository); needs --confirm APP",
  app: true,
  args: { confirm: { type: "string", description: "the app's name, to confirm" } },
  async run(args, cli) {
    const name = await cli.app();
    const confirm = args.confirm ? `?confirm=${enc(args.confirm)}` : "";
    await cli.client().delete(`/api/apps/${enc(name)}${confirm}`);
    info(`Destroyed ${name}.`);
  },
});

export const appsActivity = command({
  name: "apps:activity",
  description: "Who did what to an app, and when",
  app: true,
  data: true,
  async run(_args, cli) {
    const name = await cli.app();
    const list = await cli.client().get<Record<string, unknown>[]>(`/api/apps/${enc(name)}/activity`);
    cli.print(list, () => printTable(list, ["created_at", "user", "detail"]));
  },
});

export const gitRemote = command({
  name: "git:remote",
  description: "Point this repository's `beamstalk` git remote at the app",
  app: true,
  async run(_args, cli) {
    const client = cli.client();
    const name = await cli.app();
    await client.get(`/api/apps/${enc(name)}`);
    if (!(await insideGitRepo())) throw new BeamstalkError("usage", "not inside a git repository", "cd into your app's repository first");
    const what = await setRemote(gitUrl(client.url, name));
    info(`git remote ${REMOTE} ${what}: ${gitUrl(client.url, name)}`);
  },
});
