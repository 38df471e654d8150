import { expect, test } from "bun:test";
import type { TcpipRequestInfo } from "ssh2";
import type { Authorization, GitUser } from "../git/access.ts";
import { createMemoryLogger } from "../lib/logger.ts";
import type { Replica } from "../runner/types.ts";
import { handleForward } from "./tcpip.ts";
import { Tunnels } from "./tunnels.ts";

const owner: GitUser = { id: 1, email: "o@example.com" };
const replica = { id: "c1", app: "shop", state: "running", address: { host: "192.0.2.10", port: 4000 } } as Replica;

/** handleForward with fakes: the verdict, the replicas the runner lists; resolves with what happened. */
async function forward(options: { user?: GitUser | null; verdict?: Authorization; replicas?: Replica[]; host?: string; port?: number; session?: boolean }) {
  const logger = createMemoryLogger();
  const tunnels = new Tunnels();
  if (options.session !== false) tunnels.open({ app: "shop", replica: "web.1", replicaId: "c1", ip: "192.0.2.10" });
  let outcome = "pending";
  const info = { destIP: options.host ?? "web.1.shop", destPort: options.port ?? 4369, srcIP: "127.0.0.1", srcPort: 5555 } as TcpipRequestInfo;
  await handleForward(
    {
      logger,
      appExists: (app) => app === "shop",
      authorize: () => options.verdict ?? "ok",
      ops: { runner: { list: async () => options.replicas ?? [replica], exec: async () => { throw new Error("no exec"); } }, recordActivity() {} },
    },
    options.user === undefined ? owner : options.user,
    tunnels,
    info,
    () => {
      outcome = "accepted";
      throw new Error("not expected");
    },
    () => void (outcome = "refused"),
  );
  return { outcome, log: logger.lines.join("\n") };
}

test("refused: no user, no session, a viewer, a port or host outside the session, a replica gone or moved", async () => {
  expect(await forward({ user: null })).toMatchObject({ outcome: "refused", log: expect.stringContaining("not authenticated") });
  expect(await forward({ session: false })).toMatchObject({ outcome: "refused", log: expect.stringContaining("no observer session on this connection holds web.1.shop") });
  expect(await forward({ verdict: "forbidden" })).toMatchObject({ outcome: "refused", log: expect.stringContaining("no write access") });
  expect(await forward({ verdict: "not_found" })).toMatchObject({ outcome: "refused" });
  expect(await forward({ port: 22 })).toMatchObject({ outcome: "refused", log: expect.stringContaining("port 22 is not forwarded") });
  expect(await forward({ host: "192.0.2.10" })).toMatchObject({ outcome: "refused", log: expect.stringContaining("not a replica") });
  expect(await forward({ host: "web.2.shop" })).toMatchObject({ outcome: "refused" });
  expect(await forward({ replicas: [] })).toMatchObject({ outcome: "refused", log: expect.stringContaining("web.1 of shop is no longer running") });
  expect(await forward({ replicas: [{ ...replica, state: "exited" }] })).toMatchObject({ outcome: "refused" });
  expect(await forward({ replicas: [{ ...replica, address: { host: "192.0.2.99", port: 4000 } }] })).toMatchObject({ outcome: "refused" });
});

test("a hostile destination host is logged bounded and quoted", async () => {
  const { outcome, log } = await forward({ host: `x\ny=1 ${"a".repeat(500)}` });
  expect(outcome).toBe("refused");
  expect(log.split("\n")).toHaveLength(1);
  expect(log).not.toContain("a".repeat(129));
});
