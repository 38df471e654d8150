import { expect, test } from "bun:test";
import { localNodeArgs, parseSummary, shellWords } from "./local-node.ts";

// The session's whole answer, cookie included, is what the CLI passes in.
const hello = { node: "shop@172.18.0.3", dist_port: 9100, cookie: "c00kie", replica: "web.1" };

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
