import { expect, test } from "bun:test";
import { AppQueue } from "./app-queue.ts";

test("work for one app runs one at a time, in order; other apps do not wait; a failure does not block the queue", async () => {
  const queue = new AppQueue();
  const log: string[] = [];
  const waited: string[] = [];
  const job = (name: string, ms: number, fail = false) => async () => {
    log.push(`start ${name}`);
    await Bun.sleep(ms);
    log.push(`end ${name}`);
    if (fail) throw new Error(name);
    return name;
  };
  const a1 = queue.run("a", job("a1", 40, true));
  const a2 = queue.run("a", job("a2", 10), () => waited.push("a2"));
  const b1 = queue.run("b", job("b1", 10), () => waited.push("b1"));
  expect(queue.busy("a")).toBe(true);
  await expect(a1).rejects.toThrow("a1");
  expect(await a2).toBe("a2");
  expect(await b1).toBe("b1");
  expect(waited).toEqual(["a2"]);
  expect(log.indexOf("end a1")).toBeLessThan(log.indexOf("start a2"));
  expect(log.indexOf("end b1")).toBeLessThan(log.indexOf("end a1"));
  await Bun.sleep(0);
  expect(queue.busy("a")).toBe(false);
});
