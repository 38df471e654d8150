import { expect, test } from "bun:test";
import { sshArgv } from "./ps-remote.ts";

test("the ssh argv: port, pty only when interactive, no forwarding, the command as one JSON element", () => {
  expect(sshArgv({ host: "example.com", port: 2222 }, ["rpc", "shop", `IO.puts("a b $(id)")`], false)).toEqual([
    "ssh", "-p", "2222", "-T", "-o", "ForwardAgent=no", "-o", "ForwardX11=no", "--", "git@example.com", `["rpc","shop","IO.puts(\\"a b $(id)\\")"]`,
  ]);
  expect(sshArgv({ host: "::1", port: 22, config: "/tmp/cfg" }, ["console", "shop"], true)).toEqual([
    "ssh", "-F", "/tmp/cfg", "-p", "22", "-t", "-o", "ForwardAgent=no", "-o", "ForwardX11=no", "--", "git@::1", `["console","shop"]`,
  ]);
});
