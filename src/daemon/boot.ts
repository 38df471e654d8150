import { chmodSync, rmSync } from "node:fs";
import { createApi } from "../api/index.ts";
import { createLogger, type Logger } from "../lib/logger.ts";
import { openDatabase } from "../state/db.ts";
import { createState } from "../state/index.ts";
import { VERSION } from "../version.ts";
import { dataPaths, ensureDataDir, loadMasterKey, removeAppFiles } from "./data-dir.ts";
import type { ServerOptions } from "./options.ts";
import { setupToken } from "./setup-token.ts";

export interface Daemon {
  /** The API's base URL on TCP, with the real port when port 0 was asked for. */
  url: string;
  httpPort: number;
  socketPath: string;
  stop(): Promise<void>;
}

/**
 * The one composition root: opens the data directory and database, builds the
 * repositories and the API, and starts the listeners. Nothing else wires parts.
 */
export async function boot(options: ServerOptions, logger: Logger = createLogger()): Promise<Daemon> {
  const paths = dataPaths(options.dataDir);
  ensureDataDir(paths);
  const masterKey = loadMasterKey(paths, logger);
  const { db, pragmas } = openDatabase(paths.stateDb);
  logger.info("state.opened", { path: paths.stateDb, ...pragmas });
  const state = createState(db, masterKey);
  const token = setupToken(paths.setupToken, state.users.count() > 0);
  if (state.users.count() === 0) logger.info("setup.waiting", { token_file: paths.setupToken, hint: "beamstalk signup claims the admin account" });

  const api = createApi({
    state,
    logger,
    version: VERSION,
    ...(options.baseDomain ? { baseDomain: options.baseDomain } : {}),
    setupToken: token,
    removeAppFiles: (name) => removeAppFiles(paths, name),
  });

  const http = Bun.serve({
    hostname: options.bind,
    port: options.httpPort,
    idleTimeout: 60,
    fetch: (req) => api.fetch(req, { transport: "tcp" }),
  });
  rmSync(paths.socket, { force: true });
  const local = Bun.serve({ unix: paths.socket, fetch: (req) => api.fetch(req, { transport: "unix" }) });
  chmodSync(paths.socket, 0o660);

  const host = options.bind === "0.0.0.0" || options.bind === "::" ? "127.0.0.1" : options.bind;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${http.port}`;
  logger.info("daemon.listening", { version: VERSION, http: url, socket: paths.socket, pid: process.pid });

  let stopped = false;
  return {
    url,
    httpPort: http.port!,
    socketPath: paths.socket,
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all([http.stop(), local.stop()]);
      db.close();
      rmSync(paths.socket, { force: true });
      logger.info("daemon.stopped");
    },
  };
}
