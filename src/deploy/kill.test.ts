import { expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import type { Replica } from "../runner/types.ts";
import type { App, User } from "../state/index.ts";
import { KILL_ARGV, killReplica } from "./kill.ts";

const app = { id: 7, name: "shop" } as App;
const user = { id: 3, email: "dev@example.com" } as User;

function replica(over: Partial<Replica>): Replica {
  return { id: "c1", name: "shop-web-1", hostname: "h", app: "shop", release: 1, process: "web", index: 1, address: { host: "10.0.0.2", port: 4000 }, state: "running", startedAt: null, restarts: 0, size: 1, ...over };
}

function fakeDeps(replicas: Replica[]) {
  const execs: { id: string; argv: string[]; user?: string }[] = [];
  const activity: string[] = [];
  const platform: string[] = [];
  const deps = {
    runner: {
      list: async () => replicas,
      async exec(id: string, argv: string[], options: { user?: string }) {
        execs.push({ id, argv, ...(options.user ? { user: options.user } : {}) });
        const out = new PassThrough();
        out.end();
        const err = new PassThrough();
        err.end();
        // The container dies under the session: its code is not 0, and that is no failure.
        return { stdin: new PassThrough(), stdout: out, stderr: err, resize: async () => {}, close: () => {}, exited: Promise.resolve(137) };
      },
    },
    state: { activity: { record: (appId: number, userId: number | null, action: string, detail: string) => void activity.push(`${appId} ${userId} ${action} ${detail}`) } },
    logs: { platform: (a: string, line: string) => void platform.push(`${a}: ${line}`) },
  };
  return { deps: deps as unknown as Parameters<typeof killReplica>[0], execs, activity, platform };
}

test("kills the named running replica of the newest release, as the app user, with a constant argv", async () => {
  const f = fakeDeps([
    replica({ id: "old", release: 1, index: 2 }),
    replica({ id: "new", release: 2, index: 2 }),
    replica({ id: "other", release: 2, index: 1 }),
    replica({ id: "gone", release: 3, index: 2, state: "exited" }),
  ]);
  expect(await killReplica(f.deps, app, user, "web.2")).toBe("new");
  expect(f.execs).toEqual([{ id: "new", argv: ["/bin/bash", "-c", "kill -KILL -1"] }]);
  expect(KILL_ARGV).toEqual(["/bin/bash", "-c", "kill -KILL -1"]);
  expect(f.activity).toEqual(["7 3 ps.kill Killed web.2"]);
  expect(f.platform).toEqual(["shop: web.2 killed (by dev@example.com)"]);
});

test("no running replica of that name: not found, nothing killed or recorded", async () => {
  const f = fakeDeps([replica({ index: 1 }), replica({ id: "x", index: 2, state: "restarting" })]);
  for (const name of ["web.2", "worker.1", "web.9"]) {
    await expect(killReplica(f.deps, app, user, name)).rejects.toMatchObject({ code: "not_found", message: `shop has no running replica ${name}` });
  }
  expect(f.execs).toEqual([]);
  expect(f.activity).toEqual([]);
});
