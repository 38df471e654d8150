import { expect, test } from "bun:test";
import { hotOutcome, installExpr, restoreExpr } from "./hot.ts";

const pkg = { name: "hello", from: "0.1.0", to: "0.2.0" };

test("the Elixir sent to the node names only the checked release name and versions", () => {
  const install = installExpr(pkg);
  expect(install).toContain(':release_handler.unpack_release(~c"hello-0.2.0")');
  expect(install).toContain(":release_handler.install_release(to)");
  expect(install).toContain(":release_handler.make_permanent(to)");
  expect(restoreExpr(pkg)).toContain('from = ~c"0.1.0"');
  for (const odd of [{ ...pkg, name: 'x") <> System.cmd("id"' }, { ...pkg, to: '1"; :init.stop()' }, { ...pkg, from: "" }, { ...pkg, name: "Hello" }, { ...pkg, to: "../../x" }, { ...pkg, to: "1..2" }]) {
    expect(() => installExpr(odd)).toThrow(/unexpected release/);
    expect(() => restoreExpr(odd)).toThrow(/unexpected release/);
  }
});

test("hotOutcome: :ok is success; anything else is the node's reason, or why it did not answer", () => {
  const out = (stdout: string, code = 0, stderr = "") => ({ code, stdout, stderr, timedOut: false });
  expect(hotOutcome(out("beamstalk-hot: :ok\n"), 60_000)).toBeNull();
  expect(hotOutcome(out("warning: x\nbeamstalk-hot: {:error, {:bad_relup_file, ~c\"x\"}}\n"), 60_000)).toBe('{:error, {:bad_relup_file, ~c"x"}}');
  expect(hotOutcome(out("", 1, "--rpc-eval : RPC failed with reason :nodedown\n"), 60_000)).toBe("the node did not answer (--rpc-eval : RPC failed with reason :nodedown)");
  expect(hotOutcome({ code: 124, stdout: "", stderr: "", timedOut: true }, 60_000)).toBe("no answer within 60 s");
  expect(hotOutcome(out("", 137), 5_000)).toBe("no answer within 5 s");
});
