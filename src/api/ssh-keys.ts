import { Hono } from "hono";
import { badRequest, notFound } from "../lib/errors.ts";
import { parsePublicKey } from "../state/ssh-keys.ts";
import { requireUser } from "./auth.ts";
import { type ApiDeps, type Env, readJson } from "./context.ts";

export function sshKeyRoutes(deps: ApiDeps) {
  const r = new Hono<Env>();
  const { sshKeys } = deps.state;
  r.use(requireUser(deps));

  const json = (k: { id: number; type: string; fingerprint: string; comment: string; createdAt: string }) => ({
    id: k.id,
    type: k.type,
    fingerprint: k.fingerprint,
    comment: k.comment,
    created_at: k.createdAt,
  });

  r.get("/", (c) => c.json(sshKeys.list(c.var.user.id).map(json)));

  r.post("/", async (c) => {
    const key = parsePublicKey((await readJson(c)).key);
    const added = sshKeys.add(c.var.user.id, key);
    deps.logger.info("account.ssh_key_added", { user: c.var.user.email, fingerprint: key.fingerprint });
    return c.json(json(added), 201);
  });

  r.delete("/:id", (c) => {
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id <= 0) throw badRequest("SSH key id must be a positive number", "`beamstalk account:ssh_keys` lists them");
    if (!sshKeys.remove(c.var.user.id, id)) throw notFound(`SSH key ${id} not found`, "`beamstalk account:ssh_keys` lists them");
    return c.body(null, 204);
  });

  return r;
}
