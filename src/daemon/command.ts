import { defineCommand } from "citty";
import { createLogger } from "../lib/logger.ts";
import { VERSION } from "../version.ts";
import { boot } from "./boot.ts";
import { notifySystemd, reportFailure, reportReady } from "./handover.ts";
import { SERVER_FLAGS, resolveServerOptions } from "./options.ts";

const args = Object.fromEntries(
  Object.values(SERVER_FLAGS).map((f) => [f.flag, { type: "string" as const, description: `${f.description} (${f.env}, default ${f.default || "none"})` }]),
) as Record<string, { type: "string"; description: string }>;

/** `beamstalk server`: the daemon that systemd runs. */
export const serverCommand = defineCommand({
  meta: { name: "server", description: "Run the Beamstalk daemon (systemd runs this)" },
  args: {
    ...args,
    takeover: { type: "string", description: "internal: take over from the daemon with this pid (beamstalk upgrade starts it so)" },
  },
  async run({ args: parsed }) {
    const flag = (name: keyof typeof SERVER_FLAGS) => parsed[SERVER_FLAGS[name].flag] as string | undefined;
    const names = Object.keys(SERVER_FLAGS) as (keyof typeof SERVER_FLAGS)[];
    const logger = createLogger();
    const takeover = parsed.takeover ? { pid: Number(parsed.takeover) } : undefined;
    let daemon: Awaited<ReturnType<typeof boot>>;
    try {
      const options = resolveServerOptions(Object.fromEntries(names.map((name) => [name, flag(name)])));
      daemon = await boot(options, logger, takeover);
    } catch (err) {
      // The daemon being replaced answers `beamstalk upgrade` with this reason, and goes on serving.
      if (takeover) reportFailure((err as Error).message);
      throw err;
    }
    if (takeover) {
      await reportReady(VERSION);
      await daemon.activate();
      await notifySystemd({ MAINPID: String(process.pid), READY: "1" }, logger);
      logger.info("daemon.took_over", { from: takeover.pid, version: VERSION });
    }
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
      void daemon.handedOver.then(() => {
        logger.info("daemon.exit", { reason: "handed over" });
        resolve();
      });
    });
    process.exit(0);
  },
});
