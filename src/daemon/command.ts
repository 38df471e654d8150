import { defineCommand } from "citty";
import { createLogger } from "../lib/logger.ts";
import { boot } from "./boot.ts";
import { SERVER_FLAGS, resolveServerOptions } from "./options.ts";

const args = Object.fromEntries(
  Object.values(SERVER_FLAGS).map((f) => [f.flag, { type: "string" as const, description: `${f.description} (${f.env}, default ${f.default || "none"})` }]),
) as Record<string, { type: "string"; description: string }>;

/** `beamstalk server`: the daemon that systemd runs. */
export const serverCommand = defineCommand({
  meta: { name: "server", description: "Run the Beamstalk daemon (systemd runs this)" },
  args,
  async run({ args: parsed }) {
    const flag = (name: keyof typeof SERVER_FLAGS) => parsed[SERVER_FLAGS[name].flag] as string | undefined;
    const options = resolveServerOptions({
      dataDir: flag("dataDir"),
      bind: flag("bind"),
      httpPort: flag("httpPort"),
      httpsPort: flag("httpsPort"),
      sshPort: flag("sshPort"),
      baseDomain: flag("baseDomain"),
      controllerHost: flag("controllerHost"),
      controllerUrl: flag("controllerUrl"),
      acmeDirectory: flag("acmeDirectory"),
      acmeEmail: flag("acmeEmail"),
    });
    const logger = createLogger();
    const daemon = await boot(options, logger);
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        logger.info("daemon.shutdown", { signal });
        daemon.stop().then(resolve, (err) => {
          logger.error("daemon.shutdown_failed", { error: String(err) });
          process.exit(1);
        });
      };
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
    });
  },
});
