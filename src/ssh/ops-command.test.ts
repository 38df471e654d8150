import { expect, test } from "bun:test";
import { formatOpsCommand, parseOpsCommand } from "./ops-command.ts";

const ok = (command: string) => {
  const res = parseOpsCommand(command);
  if (!res?.ok) throw new Error(`not parsed: ${command}: ${JSON.stringify(res)}`);
  return res.command;
};
const error = (command: string) => {
  const res = parseOpsCommand(command);
  if (!res || res.ok) throw new Error(`expected an error for ${command}`);
  return res.message;
};

test("JSON argv carries any argument exactly", () => {
  const expr = `IO.puts("it's $(id) \`x\` ; | * \\n ünï")`;
  expect(ok(formatOpsCommand(["rpc", "shop", expr]))).toEqual({ kind: "rpc", app: "shop", expr });
  expect(ok(formatOpsCommand(["eval", "shop", " 1 + 1 "]))).toEqual({ kind: "eval", app: "shop", expr: " 1 + 1 " });
  expect(ok(formatOpsCommand(["ssh", "shop"]))).toEqual({ kind: "ssh", app: "shop" });
  expect(ok(formatOpsCommand(["console", "shop", "worker_x.12"]))).toEqual({ kind: "console", app: "shop", replica: "worker_x.12" });
  expect(ok(formatOpsCommand(["migrate", "shop"]))).toEqual({ kind: "migrate", app: "shop" });
  expect(ok(formatOpsCommand(["migrate", "shop", "--migration-app", "my_app"]))).toEqual({ kind: "migrate", app: "shop", migrationApp: "my_app" });
});

test("the word form, for typing by hand", () => {
  expect(ok("console shop web.1")).toEqual({ kind: "console", app: "shop", replica: "web.1" });
  expect(ok("ssh  shop")).toEqual({ kind: "ssh", app: "shop" });
  expect(ok("rpc shop IO.puts(\"a  b\")")).toEqual({ kind: "rpc", app: "shop", expr: 'IO.puts("a  b")' });
  expect(ok("eval shop 1\n+ 1")).toEqual({ kind: "eval", app: "shop", expr: "1\n+ 1" });
  expect(ok("migrate shop --migration-app=my_app")).toEqual({ kind: "migrate", app: "shop", migrationApp: "my_app" });
});

test("ours but malformed: a message", () => {
  expect(error(formatOpsCommand(["rpc", "shop"]))).toBe("usage: rpc APP EXPR [--replica REPLICA]");
  expect(error("rpc shop")).toBe("usage: rpc APP EXPR [--replica REPLICA]");
  expect(error(formatOpsCommand(["rpc", "shop", "   "]))).toBe("usage: rpc APP EXPR [--replica REPLICA]");
  expect(error(formatOpsCommand(["rpc", "shop", "a", "b"]))).toBe("usage: rpc APP EXPR [--replica REPLICA]");
  expect(error(formatOpsCommand(["rpc", "shop", "a", "--replica"]))).toBe("usage: rpc APP EXPR [--replica REPLICA]");
  expect(error(formatOpsCommand(["eval", "shop", "a", "--node", "web.1"]))).toBe("usage: eval APP EXPR [--replica REPLICA]");
  expect(error(formatOpsCommand(["rpc", "shop", "a", "--replica", "web"]))).toContain("invalid replica");
  expect(ok(formatOpsCommand(["rpc", "shop", "node()", "--replica", "web.2"]))).toEqual({ kind: "rpc", app: "shop", expr: "node()", replica: "web.2" });
  expect(ok(formatOpsCommand(["eval", "shop", "1", "--replica", "worker.3"]))).toEqual({ kind: "eval", app: "shop", expr: "1", replica: "worker.3" });
  expect(error(formatOpsCommand(["rpc", "shop", "x".repeat(64 * 1024 + 1)]))).toContain("larger than 64 KiB");
  expect(error(formatOpsCommand(["ssh"]))).toBe("usage: ssh APP [REPLICA]");
  expect(error(formatOpsCommand(["ssh", "Shop"]))).toContain("invalid app name");
  expect(error(formatOpsCommand(["ssh", "../x"]))).toContain("invalid app name");
  expect(error(formatOpsCommand(["console", "shop", "web"]))).toContain("invalid replica");
  expect(error(formatOpsCommand(["console", "shop", "web.0"]))).toContain("invalid replica");
  expect(error(formatOpsCommand(["console", "shop", "web.1", "x"]))).toBe("usage: console APP [REPLICA]");
  expect(error(formatOpsCommand(["migrate", "shop", "--migration-app"]))).toBe("usage: migrate APP [--migration-app NAME]");
  expect(error(formatOpsCommand(["migrate", "shop", "--migration-app", "My.App"]))).toContain("invalid migration app");
  expect(error(formatOpsCommand(["migrate", "shop", "--other"]))).toBe("usage: migrate APP [--migration-app NAME]");
});

test("anything else is not ours (git's commands, shells, other JSON)", () => {
  for (const command of [
    "", "id", "sh -c id", "bash -l", "git-receive-pack 'shop.git'", "git-upload-pack '/shop.git'", "console shop $(id)",
    "console shop;id", "ssh shop `id`", '["sh","-c","id"]', "[1,2]", "[]", '{"kind":"ssh"}', "[not json", "consoles shop", "SSH shop",
  ]) {
    expect(parseOpsCommand(command)).toBeNull();
  }
});

test("psql: the app and an optional replica, nothing else", () => {
  expect(parseOpsCommand('["psql","shop"]')).toEqual({ ok: true, command: { kind: "psql", app: "shop" } });
  expect(parseOpsCommand("psql shop web.2")).toEqual({ ok: true, command: { kind: "psql", app: "shop", replica: "web.2" } });
  expect(parseOpsCommand('["psql","shop","web.1","-c","DROP TABLE x"]')).toEqual({ ok: false, message: "usage: psql APP [REPLICA]" });
});

test("observer APP [REPLICA]", () => {
  expect(ok(formatOpsCommand(["observer", "shop"]))).toEqual({ kind: "observer", app: "shop" });
  expect(ok(formatOpsCommand(["observer", "shop", "web.2"]))).toEqual({ kind: "observer", app: "shop", replica: "web.2" });
  expect(ok("observer shop web.1")).toEqual({ kind: "observer", app: "shop", replica: "web.1" });
  expect(error(formatOpsCommand(["observer", "shop", "web"]))).toContain("replicas are named like web.1");
  expect(error(formatOpsCommand(["observer", "shop", "web.1", "x"]))).toBe("usage: observer APP [REPLICA]");
  expect(error(formatOpsCommand(["observer", "Shop"]))).toContain("invalid app name");
});
