import { expect, test } from "bun:test";
import { type ObserverHello, observerSshArgv, parseHello } from "./ps-observer.ts";

const hello: ObserverHello = {
  app: "shop", replica: "web.1", release: 3, node: "shop@172.18.0.3", host: "web.1.shop", epmd_port: 4369, dist_port: 9100, cookie: "c00kie",
};

test("the ssh argv: forwards on loopback only to EPMD and the distribution port, the session command as one JSON element", () => {
  expect(observerSshArgv({ host: "example.com", port: 2222 }, "shop", undefined, { epmd: 40001, dist: 40002 })).toEqual([
    "ssh", "-p", "2222", "-T", "-o", "ForwardAgent=no", "-o", "ForwardX11=no", "-o", "GatewayPorts=no", "-o", "ExitOnForwardFailure=yes",
    "-o", "ServerAliveInterval=15", "-L", "127.0.0.1:40001:shop:4369", "-L", "127.0.0.1:40002:shop:9100", "--", "git@example.com", `["observer","shop"]`,
  ]);
  const named = observerSshArgv({ host: "::1", port: 22, config: "/tmp/cfg" }, "shop", "web.2", { epmd: 1, dist: 2 });
  expect(named.slice(0, 3)).toEqual(["ssh", "-F", "/tmp/cfg"]);
  expect(named).toContain("127.0.0.1:1:web.2.shop:4369");
  expect(named).toContain("127.0.0.1:2:web.2.shop:9100");
  expect(named.at(-1)).toBe(`["observer","shop","web.2"]`);
});

test("the session's line is checked before use", () => {
  expect(parseHello(JSON.stringify(hello))).toEqual(hello);
  expect(parseHello(JSON.stringify({ ...hello, cookie: "" }))).toBeNull();
  expect(parseHello(JSON.stringify({ ...hello, node: "nonode" }))).toBeNull();
  expect(parseHello("beamstalk: app shop not found")).toBeNull();
});
