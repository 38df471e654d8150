import { type Cli, enc } from "./context.ts";
import { command } from "./define.ts";
import { info } from "./output.ts";

interface MaintenanceJson {
  app: string;
  enabled: boolean;
}

async function turn(cli: Cli, enabled: boolean): Promise<void> {
  const name = await cli.app();
  await cli.client().request<MaintenanceJson>("PUT", `/api/apps/${enc(name)}/maintenance`, { enabled });
  info(enabled ? `Maintenance on for ${name}: visitors get a 503 maintenance page; the app keeps running.` : `Maintenance off for ${name}.`);
}

export const maintenance = command({
  name: "maintenance",
  description: "Whether an app is in maintenance mode",
  app: true,
  data: true,
  async run(_args, cli) {
    const name = await cli.app();
    const res = await cli.client().get<MaintenanceJson>(`/api/apps/${enc(name)}/maintenance`);
    cli.print(res, () => process.stdout.write(`${res.enabled ? "on" : "off"}\n`));
  },
});

export const maintenanceOn = command({
  name: "maintenance:on",
  description: "Put an app in maintenance mode: it keeps running, visitors get a 503 maintenance page",
  app: true,
  run: (_args, cli) => turn(cli, true),
});

export const maintenanceOff = command({
  name: "maintenance:off",
  description: "Take an app out of maintenance mode",
  app: true,
  run: (_args, cli) => turn(cli, false),
});
