import { expect, test } from "bun:test";
import { localNodeArgs, type ObserverHello, observerSshArgv, parseHello, parseSummary, shellWords } from "./ps-observer.ts";

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

test("the local node: hidden, not listening, no EPMD of its own, our EPMD module; the cookie is not among its flags", () => {
  const args = localNodeArgs(hello, { epmd: 40001, dist: 40002 }, "/tmp/x/ebin", "ab12");
  expect(args).toEqual([
    "-hidden", "-name", "beamstalk-observer-ab12@127.0.0.1", "-start_epmd", "false", "-dist_listen", "false", "-epmd_module", "beamstalk_epmd",
    "-pa", "/tmp/x/ebin", "-beamstalk_node", "shop@172.18.0.3", "-beamstalk_epmd_port", "40001", "-beamstalk_dist_port", "40002", "-beamstalk_remote_dist_port", "9100",
  ]);
  expect(args.join(" ")).not.toContain("c00kie");
  expect(args.join(" ")).not.toContain("setcookie");
  expect(localNodeArgs({ ...hello, node: "shop@web-1" }, { epmd: 1, dist: 2 }, "/e", "x").slice(1, 3)).toEqual(["-sname", "beamstalk-observer-x@localhost"]);
});

test("words for people to copy are quoted only when needed", () => {
  expect(shellWords(["erl", "-pa", "/tmp/a b", "-x", "it's"])).toBe(`erl -pa '/tmp/a b' -x 'it'\\''s'`);
});

test("the summary's key<TAB>value lines; integers become numbers", () => {
  expect(parseSummary("node\tshop@172.18.0.3\notp_release\t25\nprocess_count\t61\napplications\tkernel,stdlib\nnoise\n")).toEqual({
    node: "shop@172.18.0.3", otp_release: 25, process_count: 61, applications: "kernel,stdlib",
  });
});
