import { Hono } from "hono";
import { BeamstalkError, forbidden } from "../lib/errors.ts";
import { type Host, hostJson } from "../lib/hosts.ts";
import type { Secret } from "../lib/secret.ts";
import type { User } from "../state/index.ts";
import { requireUser } from "./auth.ts";
import type { ApiDeps, Env } from "./context.ts";

/** One host of the cluster, as `beamstalk nodes` shows it. */
export type HostInfo = Host;

/** What the nodes routes ask of the daemon (a Swarm runner); absent on one host. */
export interface NodeActions {
  list(): Promise<HostInfo[]>;
  /** The command a new host runs to join; the token stays a Secret until the response. */
  joinCommand(): Promise<{ argv: (string | Secret)[]; manager: string }>;
  drain(host: string, user: User, out: (line: string) => void): Promise<HostInfo>;
  activate(host: string): Promise<HostInfo>;
  remove(host: string): Promise<void>;
  /** The stack's run image as a `docker save` tarball, for a new host's `docker load`. */
  image(): Promise<ReadableStream<Uint8Array>>;
}


/** The cluster's hosts, at /api/nodes: admins only. On a one-host server every route says so. */
export function nodeRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  r.use(requireUser(deps));
  r.use(async (c, next) => {
    if (!c.var.user.isAdmin) throw forbidden("only admins manage hosts", "ask an admin of this server");
    if (!deps.nodes) throw new BeamstalkError("conflict", "this server runs every replica on its own host (--runner docker)", "start it with --runner swarm to run apps on more than one host (see \"More than one host\" in the README)");
    await next();
  });
  const nodes = () => deps.nodes!;

  r.get("/", async (c) => c.json((await nodes().list()).map(hostJson)));

  r.post("/join", async (c) => {
    const { argv, manager } = await nodes().joinCommand();
    deps.logger.info("nodes.join_command", { by: c.var.user.email, manager });
    return c.json({ argv: argv.map((a) => (typeof a === "string" ? a : a.reveal())), manager });
  });

  r.get("/image", async (c) => {
    deps.logger.info("nodes.image", { by: c.var.user.email });
    return new Response(await nodes().image(), { headers: { "content-type": "application/x-tar" } });
  });

  r.post("/:host/drain", async (c) => {
    const lines: string[] = [];
    const host = await nodes().drain(c.req.param("host"), c.var.user, (line) => lines.push(line));
    return c.json({ host: hostJson(host), output: lines });
  });

  r.post("/:host/activate", async (c) => c.json(hostJson(await nodes().activate(c.req.param("host")))));

  r.delete("/:host", async (c) => {
    await nodes().remove(c.req.param("host"));
    deps.logger.info("nodes.removed", { host: c.req.param("host"), by: c.var.user.email });
    return c.body(null, 204);
  });

  return r;
}
