import { chmodSync, renameSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createApi } from "../api/index.ts";
import { defaultThrottle } from "../api/throttle.ts";
import { build } from "../builder/index.ts";
import { CronScheduler } from "../deploy/cron.ts";
import { Jobs } from "../deploy/jobs.ts";
import { Deployer } from "../deploy/pipeline.ts";
import { reconcileAfterCrash } from "../deploy/reconcile.ts";
import { RouteKeeper } from "../deploy/route-keeper.ts";
import { Supervisor } from "../deploy/supervisor.ts";
import { createGitHttp } from "../git/http.ts";
import { removeRepo } from "../git/repos.ts";
import { createLogger, formatFields, type Logger } from "../lib/logger.ts";
import { Logs } from "../logs/index.ts";
import { BackupScheduler, type DatabaseHosts, Postgres, ensurePostgresImage } from "../postgres/index.ts";
import { backupKey } from "../postgres/backup-cipher.ts";
import { BeamstalkError } from "../lib/errors.ts";
import { createRouter } from "../router/index.ts";
import Docker from "dockerode";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import { Secret } from "../lib/secret.ts";
import { agentDocker } from "../runner/agent-client.ts";
import { Agents } from "../runner/swarm/agents.ts";
import type { NodeActions } from "../api/nodes.ts";
import { type DrainDeps, drainHost } from "../deploy/drain-host.ts";
import { DockerRunner, type Runner, SwarmNodes, SwarmRunner, ensureManager, networkName } from "../runner/index.ts";
import { startSshServer } from "../ssh/server.ts";
import { TlsManager } from "../tls/index.ts";
import { RUN_IMAGE, ensureStackImages } from "../stack/index.ts";
import { openDatabase } from "../state/db.ts";
import { type State, createState } from "../state/index.ts";
import { VERSION } from "../version.ts";
import { dataPaths, ensureDataDir, loadMasterKey, removeAppFiles } from "./data-dir.ts";
import { gitAccess } from "./git-access.ts";
import type { ServerOptions } from "./options.ts";
import { checkRunnerChoice } from "./runner-choice.ts";
import { migrateQueuedConnections, notifySystemd, refuseSecondDaemon, startSuccessor, successorArgv, writePidFile } from "./handover.ts";
import { setupToken } from "./setup-token.ts";

export interface Daemon {
  /** The API's base URL on TCP, with the real port when port 0 was asked for. */
  url: string;
  httpPort: number;
  sshPort: number;
  socketPath: string;
  stop(): Promise<void>;
  /** Starts the loops (supervisor, database watch, backups, log collection); boot() does it unless it takes over from another daemon. */
  activate(): Promise<void>;
  /** Resolves once this daemon handed over to a successor (beamstalk upgrade) and drained: time to exit. */
  handedOver: Promise<void>;
}

/**
 * This host's Docker engine, a Swarm this host manages (made one when it is in
 * none), or a Kubernetes cluster reached through a kubeconfig. Replicas boot with the host's CPUs and are settled to their size's limit
 * once healthy.
 */
async function makeRunner(options: ServerOptions, root: string, logger: Logger, runImage: () => Promise<string>): Promise<{ runner: Runner; swarm?: { docker: Docker; nodes: SwarmNodes; agents: Agents; runner: SwarmRunner; controllerNode: string } }> {
  const bootDir = join(root, "runner");
  if (options.runner === "docker") return { runner: new DockerRunner({ bootDir, logger, bootCpus: availableParallelism() }) };
  if (options.runner === "k3s") {
    // Loaded only here: a server on Docker or Swarm never evaluates the Kubernetes client.
    const { connectK3s } = await import("../runner/k3s/index.ts");
    return { runner: await connectK3s({ logger, podCidrs: options.k3sPodCidrs ?? [], routerCidrs: options.k3sRouterCidrs ?? [], ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}) }) };
  }
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const { nodeId: controllerNode } = await ensureManager(docker, logger, options.swarmAdvertiseAddr);
  const agents = new Agents({ docker, client: agentDocker, token: agentToken(root), logger });
  const runner = new SwarmRunner({ docker, logger, bootDir, gatewayImage: runImage, bootCpus: availableParallelism(), nodes: agents });
  return { runner, swarm: { docker, nodes: new SwarmNodes(docker), agents, runner, controllerNode } };
}

/** The token the controller and the hosts' agents share: made once, kept in the data directory (0600). */
function agentToken(root: string): Secret {
  const path = join(root, "swarm-agent.token");
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString("hex"), { mode: 0o600, flag: "wx" });
  return new Secret(readFileSync(path, "utf8").trim());
}

/** `beamstalk nodes` and friends over a Swarm; moving replicas off a host is the deployer's rolling restart. */
function nodeActions(o: { docker: Docker; nodes: SwarmNodes; runner: Runner; state: State; logger: Logger; restart: DrainDeps["restart"]; controllerNode: string }): NodeActions {
  const { nodes } = o;
  return {
    list: () => nodes.list(),
    joinCommand: () => nodes.joinCommand(),
    drain: (host, user, out) => drainHost({ nodes, runner: o.runner, state: o.state, logger: o.logger, restart: o.restart, controllerNode: o.controllerNode }, host, user, out),
    activate: async (host) => {
      const found = await nodes.find(host);
      await nodes.setAvailability(found, "active");
      return { ...found, availability: "active" };
    },
    remove: async (host) => {
      const found = await nodes.find(host);
      // A database pinned there (pg:create --node) would be lost with the host: it is moved or destroyed first.
      const pinned = o.state.databases.all().filter((d) => d.node === found.id);
      if (pinned.length > 0) {
        throw new BeamstalkError("conflict", `${found.hostname} holds the PostgreSQL database of ${pinned.map((d) => d.app).join(", ")}`, `take a backup (beamstalk pg:backups:capture -a ${pinned[0]!.app}), then beamstalk pg:destroy -a ${pinned[0]!.app}; restore it into a database on another host`);
      }
      return nodes.remove(found);
    },
    image: async () => Readable.toWeb((await o.docker.getImage(RUN_IMAGE).get()) as unknown as Readable) as ReadableStream<Uint8Array>,
  };
}

/** The Swarm's hosts as pg:create --node sees them: found like nodes:drain finds them, reached through their agents. */
function databaseHosts(swarm: { nodes: SwarmNodes; agents: Agents; controllerNode: string }, cliConfigDir: string): DatabaseHosts {
  return {
    controllerNode: swarm.controllerNode,
    find: (host) => swarm.nodes.find(host),
    hostname: async (id) => (await swarm.nodes.list().catch(() => [])).find((h) => h.id === id)?.hostname ?? id.slice(0, 12),
    engineEnv: (id) => swarm.agents.cliEnv(id, cliConfigDir),
  };
}

/** The command git runs as pre-receive hook: this very binary (or, from source, bun with main.ts). */
function hookCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath, "hook", "pre-receive"] : [process.execPath, Bun.main, "hook", "pre-receive"];
}

/**
 * The one composition root: opens the data directory and database, builds the
 * repositories, runner, builder, router and API, and starts the listeners.
 * Nothing else wires parts together.
 */
export async function boot(options: ServerOptions, logger: Logger = createLogger(), takeover?: { pid: number }): Promise<Daemon> {
  const paths = dataPaths(options.dataDir);
  ensureDataDir(paths);
  // With SO_REUSEPORT on every listener, only this check keeps a second daemon off the same data directory and ports.
  const pidFile = join(paths.root, "daemon.pid");
  await refuseSecondDaemon({ pidFile, ...(takeover ? { predecessor: takeover.pid } : {}), hostname: options.bind, ports: [options.httpPort, options.httpsPort, options.sshPort] });
  const masterKey = loadMasterKey(paths, logger);
  const { db, pragmas } = openDatabase(paths.stateDb);
  logger.info("state.opened", { path: paths.stateDb, ...pragmas });
  const state = createState(db, masterKey);
  const token = setupToken(paths.setupToken, state.users.count() > 0);
  if (state.users.count() === 0) logger.info("setup.waiting", { token_file: paths.setupToken, hint: "beamstalk signup claims the admin account" });

  // Stack images are built in the background when missing; deploys wait for them.
  const stack = ensureStackImages({ logger, workDir: paths.tmp, onOutput: (line) => logger.info("stack.build", { line }) }).then(
    () => ({ runImage: RUN_IMAGE }),
  );
  stack.catch((err) => logger.error("stack.build_failed", { error: (err as Error).message }));

  checkRunnerChoice(state, options.runner);
  const { runner, swarm } = await makeRunner(options, paths.root, logger, () => stack.then((s) => s.runImage));
  // Where replicas fetch their slug when the runner delivers by URL; the daemon's own URL once it listens, unless told.
  let controllerUrl = options.controllerUrl ?? "";
  const slugBase = () => controllerUrl;
  let api: ReturnType<typeof createApi>;
  const logs = new Logs({ dir: paths.logs, records: state.drains, logger, runner });
  // The router's warnings about an app also go to that app's log (source router).
  const routerLogger: Logger = {
    ...logger,
    warn: (event, fields) => {
      logger.warn(event, fields);
      if (typeof fields?.app === "string") logs.router(fields.app, [event.replace(/^router\./, ""), ...formatFields({ ...fields, app: undefined })].join(" "));
    },
  };
  const router = createRouter({ logger: routerLogger, fallback: (req, server) => gitOrApi(req, server) });
  for (const app of state.maintenance.appsOn()) router.setMaintenance(app, true);
  const routes = new RouteKeeper(router);
  const supervisor = new Supervisor({
    state,
    runner,
    routes,
    logger,
    onRevive: (app, replica, times) => logs.platform(app, `${replica} stopped unexpectedly; restarted it (${times}×)`),
  });
  const postgres = new Postgres({
    databases: state.databases,
    backups: state.backups,
    activity: state.activity,
    dataDir: paths.root,
    logger,
    network: { ensure: (app) => runner.ensureNetwork(app), name: networkName },
    // A database is a container on this host's Docker, joined to the app's network: a cluster's pods are on no such network.
    ...(options.runner === "k3s"
      ? { unavailable: { reason: "managed PostgreSQL is not available with --runner k3s: a database runs on this host's Docker, which the cluster's pods cannot reach by name", hint: "run PostgreSQL where the cluster reaches it and set DATABASE_URL with `beamstalk config:set`" } }
      : {}),
    imageReady: async () => void (await ensurePostgresImage({ logger, workDir: paths.tmp, onOutput: (line) => logger.info("postgres.image.build", { line }) })),
    ...(swarm ? { hosts: databaseHosts(swarm, join(paths.root, "agent-cli")) } : {}),
    backupKey: backupKey(masterKey),
    // DATABASE_URL is config: a new release, rolled out like any config change.
    setConfig: async (app, change, userId) => {
      const release = state.config.change(app, change, userId);
      if (release.status === "pending") await deployer.redeploy(app, release);
    },
  });
  const hostnames = (app: string) => state.domains.hostnamesFor(app, options.baseDomain);
  const tls =
    options.httpsPort === 0
      ? null
      : new TlsManager({
          certificates: state.certificates,
          logger,
          listen: { hostname: options.bind, port: options.httpsPort },
          entrance: (entrance) => router.entrance({ ...entrance, socketDir: paths.tmp }),
          acme: {
            directoryUrl: options.acmeDirectory,
            ...(options.acmeEmail ? { email: options.acmeEmail } : {}),
            accountKeyFile: join(paths.certs, "account.key"),
          },
          wanted: () => [...(options.controllerHost ? [options.controllerHost] : []), ...state.domains.allHostnames(options.baseDomain)],
        });
  const backupSchedule = new BackupScheduler({ at: "03:00", logger, run: async () => void (await postgres.dailyBackups()) });
  const deployer = new Deployer({
    state,
    runner,
    router: routes,
    revivals: (id) => supervisor.revivals(id),
    logs: { startBuild: (app) => logs.startBuild(app), platform: (app, line) => logs.platform(app, line), job: (app, name, line) => logs.job(app, name, line) },
    build: (opts) => build({ ...opts, workDir: paths.tmp }),
    stackReady: () => stack,
    paths: { repos: paths.repos, slugs: paths.slugs, cache: paths.cache, tmp: paths.tmp },
    logger,
    controllerUrl: slugBase,
    ...(options.baseDomain ? { baseDomain: options.baseDomain } : {}),
  });

  const jobs = new Jobs({ state, runner, stackReady: () => stack, slugsDir: paths.slugs, logger, controllerUrl: slugBase, ...(options.baseDomain ? { baseDomain: options.baseDomain } : {}) });
  const cron = new CronScheduler({ state, jobs, logs, logger });

  let sshPort: number | undefined;
  // One set of rate limits for the API and git over HTTP: a bad key counts the same on both.
  const throttle = defaultThrottle();
  api = createApi({
    throttle,
    agentBinary: () => (Bun.main.startsWith("/$bunfs/") ? process.execPath : undefined),
    ...(swarm ? { nodes: nodeActions({ ...swarm, runner, state, logger, restart: (app, user, out) => deployer.restart(app, user, out) }) } : {}),
    sshPort: () => sshPort,
    upgrade: (o) => upgrade(o),
    state,
    logger,
    version: VERSION,
    ...(options.baseDomain ? { baseDomain: options.baseDomain } : {}),
    setupToken: token,
    slugsDir: paths.slugs,
    deploy: deployer,
    jobs,
    cron,
    logs,
    postgres,
    domains: {
      domains: state.domains,
      ...(tls ? { tls } : {}),
      changed: (app) => {
        routes.setRoute(app.name, hostnames(app.name), routes.backends(app.name));
        tls?.refresh();
      },
    },
    routes: { setMaintenance: (app, on) => router.setMaintenance(app, on) },
    appCreated: () => tls?.refresh(),
    removeApp: async (app) => {
      await postgres.removeApp(app); // before the runner removes the app's network
      await deployer.removeApp(app);
      await logs.removeApp(app.name);
      removeRepo(paths.repos, app.name);
      await removeAppFiles(paths, app.name);
      tls?.refresh();
    },
  });

  const access = gitAccess(state, throttle);
  const git = createGitHttp({ reposDir: paths.repos, hookCommand: hookCommand(), logger, ...access, hookEnv: () => ({ BEAMSTALK_SOCKET: paths.socket }) });
  async function gitOrApi(req: Request, server: Bun.Server<any>): Promise<Response> {
    // The client's address as the router's front saw it (entrance.ts), for the API's rate limits.
    const clientIp = server.requestIP(req)?.address;
    return (await git(req, server)) ?? api.fetch(req, { transport: "tcp", ...(clientIp ? { clientIp } : {}) });
  }

  await deployer.restoreRoutes().catch((err) => logger.error("deploy.restore_failed", { error: (err as Error).message }));
  await tls?.start();
  let active = false;
  async function activate(): Promise<void> {
    if (active) return;
    active = true;
    supervisor.start();
    postgres.start(); // a database container that is not running is started again
    backupSchedule.start();
    cron.start();
    await logs.start().catch((err) => logger.error("logs.start_failed", { error: (err as Error).message }));
    writePidFile(pidFile);
  }
  // A successor starts them once the daemon it takes over from stopped its own.
  if (!takeover) await activate();
  // A cold boot (a crash, or a stop) leaves nothing half-done; a successor's predecessor still runs its jobs.
  if (!takeover) {
    void reconcileAfterCrash({
      state,
      runner,
      logger,
      redeploy: (app, release, out) => deployer.redeploy(app, release, out),
      exclusive: (app, fn) => deployer.exclusive(app, fn),
      routed: (app) => new Set(routes.backends(app).map((b) => `${b.host}:${b.port}`)),
      platform: (app, line) => logs.platform(app, line),
    }).catch((err) =>
      logger.error("reconcile.failed", { error: (err as Error).message }),
    );
  }

  // The socket-level front proxies apps; the API, git, ACME challenges and redirects to
  // HTTPS take the slow path behind it. No idle cut-off on either: long polls, SSE,
  // WebSockets and quiet builds are why teams run Elixir.
  const http = router.listen({
    hostname: options.bind,
    port: options.httpPort,
    // The slow path's unix socket, in a fresh 0700 directory under the data directory's tmp/.
    socketDir: paths.tmp,
    ...(tls ? { before: tls.httpFront, bypass: tls.answersHttp } : {}),
  });
  // Bound beside the socket, then renamed over it: a successor takes the path from the daemon it replaces atomically.
  const nextSocket = `${paths.socket}.${process.pid}`;
  rmSync(nextSocket, { force: true });
  const local = Bun.serve({
    unix: nextSocket,
    fetch: (req) => api.fetch(req, { transport: "unix" }),
    // A push streams its build, which may be quiet for a long time. server.timeout(req, 0)
    // is not enough: Bun still cut a streamed response quiet for 10 s (seen here). Bun's
    // types leave idleTimeout out of unix-socket servers; at run time it is honoured.
    ...({ idleTimeout: 0 } as object),
  });
  chmodSync(nextSocket, 0o660);
  renameSync(nextSocket, paths.socket);
  const ssh = await startSshServer({
    dataDir: paths.root,
    host: options.bind,
    port: options.sshPort,
    logger,
    reposDir: paths.repos,
    hookCommand: hookCommand(),
    hookEnv: () => ({ BEAMSTALK_SOCKET: paths.socket }),
    ...access,
    ops: {
      runner,
      recordActivity: (app, user, action, detail) => {
        const found = state.apps.byName(app);
        if (found) state.activity.record(found.id, user.id, action, detail);
      },
    },
  });
  sshPort = ssh.port;

  const host = options.bind === "0.0.0.0" || options.bind === "::" ? "127.0.0.1" : options.bind;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${http.port}`;
  controllerUrl ||= url;
  // Every host's agent fetches this binary from here: deployed once the URL is known, in the background.
  if (swarm) {
    const agentBinary = Bun.main.startsWith("/$bunfs/") ? process.execPath : undefined;
    if (!agentBinary) logger.warn("runner.agent.no_binary", { hint: "run the compiled binary: hosts other than this one cannot be reached from source" });
    else void stack
      .then(({ runImage }) => swarm.agents.ensure({ image: runImage, binaryUrl: `${controllerUrl}/internal/agent/beamstalk`, attach: (network) => swarm.runner.routeNetwork(network) }))
      .catch((err) => logger.error("runner.agent.deploy_failed", { error: (err as Error).message }));
  }
  logger.info("daemon.listening", { version: VERSION, http: url, ssh: ssh.port, socket: paths.socket, pid: process.pid, slug_delivery: runner.slugDelivery, controller_url: controllerUrl });

  if (!takeover) await notifySystemd({ READY: "1", MAINPID: String(process.pid) }, logger);

  // beamstalk upgrade (handover.ts): a successor started, ready, then this daemon retires.
  let upgrading = false;
  let retired = false;
  let markHandedOver: () => void = () => {};
  const handedOver = new Promise<void>((resolve) => (markHandedOver = resolve));
  async function upgrade(o: { binary?: string; drainSeconds: number }): Promise<{ from: string; to: string; pid: number }> {
    if (upgrading) throw new BeamstalkError("conflict", "an upgrade is already under way");
    const busy = deployer.busyApps();
    if (busy.length > 0) throw new BeamstalkError("conflict", `a deploy of ${busy.join(", ")} is under way`, "upgrade once it has ended: the new daemon would not see its routes");
    upgrading = true;
    try {
      const argv = successorArgv(options, { http: http.port, https: tls?.port ?? 0, ssh: ssh.port }, process.pid);
      const successor = await startSuccessor({ binary: o.binary ?? process.execPath, argv, timeoutMs: 90_000, logger });
      // After this answer is on its way.
      setTimeout(() => void retire(successor, o.drainSeconds * 1000), 50);
      return { from: VERSION, to: successor.version, pid: successor.pid };
    } catch (err) {
      upgrading = false;
      throw err;
    }
  }
  async function retire(successor: { pid: number; takeOver(): void }, boundMs: number): Promise<void> {
    retired = true;
    migrateQueuedConnections(logger);
    logger.info("daemon.handing_over", { to: successor.pid, drain_seconds: boundMs / 1000 });
    // Stop accepting first: from here the successor takes every new connection.
    const drained = Promise.all([http.drain(boundMs), tls?.drain(boundMs) ?? Promise.resolve(0), ssh.drain(boundMs), local.stop(false)]);
    supervisor.stop();
    postgres.stop();
    await backupSchedule.stop();
    await cron.stop();
    await logs.stop().catch(() => {});
    successor.takeOver();
    const [http1, https1, ssh1] = await drained;
    logger.info("daemon.handed_over", { to: successor.pid, cut_http: http1, cut_https: https1, cut_ssh: ssh1 });
    db.close();
    markHandedOver();
  }

  let stopped = false;
  return {
    url,
    httpPort: http.port,
    sshPort: ssh.port,
    socketPath: paths.socket,
    activate,
    handedOver,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (retired) {
        // Asked to stop while it drains: what is still open is cut; the successor serves.
        await Promise.all([http.stop(true), local.stop(true), ssh.stop()]);
        logger.info("daemon.stopped");
        return;
      }
      supervisor.stop();
      postgres.stop();
      await backupSchedule.stop();
      await cron.stop();
      await tls?.stop();
      await Promise.all([http.stop(), local.stop(), ssh.stop()]);
      await logs.stop();
      db.close();
      rmSync(paths.socket, { force: true });
      logger.info("daemon.stopped");
    },
  };
}
