import { expect, test } from "bun:test";
import { parseForwardHost, type Tunnel, Tunnels } from "./tunnels.ts";

test("forward hosts: <app> or <replica>.<app>, nothing else", () => {
  expect(parseForwardHost("shop")).toEqual({ app: "shop" });
  expect(parseForwardHost("web.1.shop")).toEqual({ app: "shop", replica: "web.1" });
  expect(parseForwardHost("worker_x.12.my-shop")).toEqual({ app: "my-shop", replica: "worker_x.12" });
  // "localhost" is a well-formed app name: refused later, as no session holds it.
  for (const bad of ["", "172.18.0.3", "web.1", "web.0.shop", "a.web.1.shop", "web.1.Shop", "web.1.shop.", "::1", "shop:4369", "x".repeat(200)]) {
    expect(parseForwardHost(bad)).toBeNull();
  }
});

const web1: Tunnel = { app: "shop", replica: "web.1", replicaId: "c1", ip: "172.18.0.3" };
const web2: Tunnel = { app: "shop", replica: "web.2", replicaId: "c2", ip: "172.18.0.4" };
const other: Tunnel = { app: "other", replica: "web.1", replicaId: "c9", ip: "172.19.0.3" };

test("without an observer session on the connection, every forward is refused", () => {
  const tunnels = new Tunnels();
  expect(tunnels.decide("web.1.shop", 4369)).toEqual({ ok: false, reason: "no observer session on this connection holds web.1.shop" });
  expect(tunnels.decide("shop", 9100)).toEqual({ ok: false, reason: "no observer session on this connection holds shop" });
});

test("a session allows its own replica's EPMD and distribution port, and nothing else", () => {
  const tunnels = new Tunnels();
  tunnels.open(web1);
  tunnels.open(other);
  expect(tunnels.decide("web.1.shop", 4369)).toEqual({ ok: true, tunnel: web1 });
  expect(tunnels.decide("shop", 9100)).toEqual({ ok: true, tunnel: web1 });
  expect(tunnels.decide("web.1.other", 9100)).toEqual({ ok: true, tunnel: other });
  for (const port of [22, 80, 4000, 4370, 9101, 0]) {
    expect(tunnels.decide("web.1.shop", port)).toMatchObject({ ok: false, reason: expect.stringContaining(`port ${port} is not forwarded`) });
  }
  expect(tunnels.decide("web.2.shop", 4369)).toMatchObject({ ok: false, reason: "no observer session on this connection holds web.2.shop" });
  expect(tunnels.decide("web.1.third", 4369)).toMatchObject({ ok: false });
  expect(tunnels.decide("172.18.0.3", 4369)).toMatchObject({ ok: false, reason: expect.stringContaining("not a replica") });
});

test("two sessions on replicas of one app: the bare app name is ambiguous", () => {
  const tunnels = new Tunnels();
  tunnels.open(web1);
  tunnels.open(web2);
  expect(tunnels.decide("shop", 4369)).toMatchObject({ ok: false, reason: expect.stringContaining("name one, e.g. web.1.shop") });
  expect(tunnels.decide("web.2.shop", 4369)).toEqual({ ok: true, tunnel: web2 });
});

test("closing a session closes its forwards and says how many it carried; later forwards are refused", () => {
  const tunnels = new Tunnels();
  const close = tunnels.open(web1);
  const destroyed: string[] = [];
  const socket = (name: string) => ({ destroy: () => destroyed.push(name) });
  const a = socket("a");
  expect(tunnels.track(web1, a)).toBe(true);
  expect(tunnels.track(web1, socket("b"))).toBe(true);
  tunnels.untrack(web1, a);
  expect(close()).toBe(2);
  expect(destroyed).toEqual(["b"]);
  expect(tunnels.size).toBe(0);
  expect(tunnels.track(web1, socket("c"))).toBe(false);
  expect(tunnels.decide("shop", 4369)).toMatchObject({ ok: false });
});
