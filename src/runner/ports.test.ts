import { expect, test } from "bun:test";
import { bootScript } from "./boot-script.ts";
import { DIST_PORT } from "./ports.ts";

test("the boot script pins the node's distribution port to DIST_PORT", () => {
  expect(bootScript).toContain(`-kernel inet_dist_listen_min ${DIST_PORT} inet_dist_listen_max ${DIST_PORT}`);
});
