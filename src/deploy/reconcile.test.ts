import { describe, expect, test } from "bun:test";
import type { Replica } from "../runner/types.ts";
import { pickStrays } from "./reconcile.ts";

const replica = (id: string, o: Partial<Replica>): Replica => ({
  id,
  name: id,
  hostname: id,
  app: "shop",
  release: 3,
  process: "web",
  index: 1,
  address: { host: `10.0.0.${id.length}`, port: 4000 },
  state: "running",
  startedAt: "2026-12-03T10:00:00Z",
  restarts: 0,
  size: 1,
  ...o,
});

describe("pickStrays: what the formation does not want after a crash", () => {
  const formation = { web: { count: 2 }, worker: { count: 1 } };
  const lineage = new Set([2, 3]);

  test("keeps one replica per wanted index of the current lineage; stops other releases and indexes past the count", () => {
    const replicas = [
      replica("a", { index: 1 }),
      replica("bb", { index: 2, release: 2 }),
      replica("ccc", { index: 3 }),
      replica("dddd", { index: 1, release: 1 }),
      replica("eeeee", { process: "worker", index: 1 }),
      replica("ffffff", { process: "cron", index: 1 }),
    ];
    expect(pickStrays(replicas, { lineage, formation, routed: new Set() }).map((r) => r.id)).toEqual(["ccc", "dddd", "ffffff"]);
  });

  test("an index held twice (a rollout cut off after creating a replica): the routed one stays, else the newest", () => {
    const routedOne = replica("a", { index: 1, startedAt: "2026-12-03T10:00:00Z" });
    const orphan = replica("bb", { index: 1, startedAt: "2026-12-03T10:05:00Z" });
    expect(pickStrays([routedOne, orphan], { lineage, formation, routed: new Set(["10.0.0.1:4000"]) }).map((r) => r.id)).toEqual(["bb"]);
    const older = replica("eeeee", { process: "worker", startedAt: "2026-12-03T10:00:00Z" });
    const newer = replica("ffffff", { process: "worker", startedAt: "2026-12-03T10:05:00Z" });
    expect(pickStrays([older, newer], { lineage, formation, routed: new Set() }).map((r) => r.id)).toEqual(["eeeee"]);
  });

  test("nothing to stop when everything is wanted", () => {
    expect(pickStrays([replica("a", { index: 1 }), replica("bb", { index: 2 })], { lineage, formation, routed: new Set() })).toEqual([]);
  });
});
