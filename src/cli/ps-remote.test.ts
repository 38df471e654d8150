import { describe, expect, test } from "bun:test";
import { releaseCommand, sshArgv } from "./ps-remote.ts";

test("the ssh argv: port, pty only when interactive, no forwarding, the command as one JSON element", () => {
  expect(sshArgv({ host: "example.com", port: 2222 }, ["rpc", "shop", `IO.puts("a b $(id)")`], false)).toEqual([
    "ssh", "-p", "2222", "-T", "-o", "ForwardAgent=no", "-o", "ForwardX11=no", "--", "git@example.com", `["rpc","shop","IO.puts(\\"a b $(id)\\")"]`,
  ]);
  expect(sshArgv({ host: "::1", port: 22, config: "/tmp/cfg" }, ["console", "shop"], true)).toEqual([
    "ssh", "-F", "/tmp/cfg", "-p", "22", "-t", "-o", "ForwardAgent=no", "-o", "ForwardX11=no", "--", "git@::1", `["console","shop"]`,
  ]);
});

describe("distillery [APP] COMMAND: GIGALIXIR's release commands onto the SSH operations", () => {
  const ops = (words: string[], appFlag?: string, replica?: string) => {
    const cmd = releaseCommand(words, appFlag, replica);
    return { app: cmd.app, argv: cmd.argv(cmd.app ?? "from-flag"), interactive: cmd.interactive };
  };

  test("each command, with and without the app first", () => {
    expect(ops(["ping"])).toEqual({ app: undefined, argv: ["rpc", "from-flag", "IO.puts(:pong)"], interactive: false });
    expect(ops(["shop", "ping"])).toEqual({ app: "shop", argv: ["rpc", "shop", "IO.puts(:pong)"], interactive: false });
    expect(ops(["shop", "pid"], "shop", "web.2").argv).toEqual(["rpc", "shop", "IO.puts(System.pid())", "--replica", "web.2"]);
    expect(ops(["rpc", "IO.puts(node())"]).argv).toEqual(["rpc", "from-flag", "IO.puts(node())"]);
    expect(ops(["shop", "eval", `IO.puts("a $(id)")`]).argv).toEqual(["eval", "shop", `IO.puts("a $(id)")`]);
    expect(ops(["remote_console"], undefined, "web.1")).toEqual({ app: undefined, argv: ["console", "from-flag", "web.1"], interactive: true });
    expect(ops(["shop", "remote"]).interactive).toBe(true);
  });

  test.each([
    [[], "no release command given"],
    [["stop"], 'not a release command this server runs: "stop"'],
    [["shop", "stop"], 'not a release command this server runs: "stop"'],
    [["constructor"], 'not a release command this server runs: "constructor"'],
    [["shop", "__proto__"], 'not a release command this server runs: "__proto__"'],
    [["Shop", "stop"], 'not a release command this server runs: "Shop"'],
    [["ping", "extra"], "ping takes no argument"],
    [["rpc"], "rpc takes one argument"],
    [["shop", "eval", "1", "2"], "eval takes one argument"],
    [["$(id)", "ping"], "invalid app name"],
  ])("refuses %p", (words, message) => {
    expect(() => releaseCommand(words, undefined, undefined)).toThrow(message);
  });

  test("two different apps, or a bad replica, are refused", () => {
    expect(() => releaseCommand(["shop", "ping"], "other", undefined)).toThrow('two apps given: "shop" and -a "other"');
    expect(() => releaseCommand(["ping"], undefined, "web;id")).toThrow("not a replica name");
  });
});
