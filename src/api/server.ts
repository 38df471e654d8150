import { Hono } from "hono";
import { badRequest, forbidden } from "../lib/errors.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, readJson } from "./context.ts";

/** What the daemon does for `beamstalk upgrade` (src/daemon/handover.ts). */
export interface UpgradeAction {
  /** Starts `binary` (default: the installed one) as the successor; resolves once it serves, then this daemon drains. */
  (options: { binary?: string; drainSeconds: number }): Promise<{ from: string; to: string; pid: number }>;
}

const MAX_DRAIN_SECONDS = 24 * 3600;

/**
 * /api/server/upgrade. Over TCP: admins, and only the installed binary (an
 * admin of apps is not root on the host). Over the unix socket (root on the
 * host, systemd's ExecReload, install.sh): any binary path.
 */
export function serverRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  r.post("/upgrade", async (c, next) => {
    if (c.env?.transport === "unix") return next();
    return requireUser(deps)(c, async () => {
      if (!c.var.user.isAdmin) throw forbidden("only admins upgrade the server", "ask an admin of this server");
      await next();
    });
  });
  r.post("/upgrade", async (c) => {
    if (!deps.upgrade) throw badRequest("this server cannot hand over to another binary");
    const body = await readJson(c);
    const binary = body.binary;
    if (binary !== undefined) {
      if (typeof binary !== "string" || !binary.startsWith("/") || binary.includes("\0")) throw badRequest("binary must be an absolute path");
      if (c.env?.transport !== "unix") throw forbidden("only root on the server's host chooses the binary", "run `beamstalk upgrade --socket …` there, or leave out --binary to use the installed one");
    }
    const drain = body.drain_seconds ?? 600;
    if (typeof drain !== "number" || !Number.isInteger(drain) || drain < 0 || drain > MAX_DRAIN_SECONDS) throw badRequest(`drain_seconds must be a whole number from 0 to ${MAX_DRAIN_SECONDS}`);
    const done = await deps.upgrade({ ...(binary ? { binary } : {}), drainSeconds: drain });
    deps.logger.info("daemon.upgrade", { from: done.from, to: done.to, pid: done.pid, by: c.var.user?.email ?? "unix socket" });
    return c.json({ from: done.from, to: done.to, pid: done.pid, drain_seconds: drain });
  });
  return r;
}
