import { expect, test } from "bun:test";
import { BackendRegistry } from "./backends.ts";
import { nextBackend, RouteTable } from "./route-table.ts";

const b = (port: number) => ({ host: "10.0.0.2", port });

test("set replaces an app's names and backends as a whole; remove forgets them", () => {
  const table = new RouteTable(new BackendRegistry());
  table.set("web", ["web.example.com", "WWW.Shop.test"], [b(1), b(2)]);
  expect(table.lookup("www.shop.test:443")?.app).toBe("web");
  table.set("web", ["web.example.com"], [b(3)]);
  expect(table.lookup("www.shop.test")).toBeUndefined();
  expect(table.lookup("web.example.com")?.backends).toEqual([b(3)]);
  table.remove("web");
  expect(table.lookup("web.example.com")).toBeUndefined();
  expect(table.lookup(null)).toBeUndefined();
});

test("round robin, and none for an empty backend list", () => {
  const table = new RouteTable(new BackendRegistry());
  table.set("web", ["w"], [b(1), b(2), b(3)]);
  const route = table.lookup("w")!;
  expect([1, 2, 3, 4].map(() => nextBackend(route)!.key)).toEqual(["10.0.0.2:1", "10.0.0.2:2", "10.0.0.2:3", "10.0.0.2:1"]);
  table.set("empty", ["e"], []);
  expect(nextBackend(table.lookup("e")!)).toBeUndefined();
});

test("a host name moved to another app stays with it when the first app changes", () => {
  const table = new RouteTable(new BackendRegistry());
  table.set("a", ["shared.test"], [b(1)]);
  table.set("b", ["shared.test"], [b(2)]);
  table.set("a", ["a.test"], [b(1)]);
  expect(table.lookup("shared.test")?.app).toBe("b");
});
