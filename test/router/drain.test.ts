import { afterEach, expect, test } from "bun:test";
import { get, startRouter, startUpstream, stopAll } from "./support.ts";

afterEach(stopAll);

test("drain() waits for an in-flight slow request, and times out while one is still running", async () => {
  const r = startRouter();
  const old = startUpstream("old", async (req) => {
    await Bun.sleep(Number(new URL(req.url).searchParams.get("ms")));
    return new Response("slow done");
  });
  r.router.setRoute("web", ["web.test"], [old.backend]);
  expect(await r.router.drain([old.backend], 1000)).toEqual({ drained: true, inFlight: 0 });

  const slow = get(r, "web.test", "/?ms=600").then((res) => res.text());
  await Bun.sleep(100);
  const fresh = startUpstream("new");
  r.router.setRoute("web", ["web.test"], [fresh.backend]); // switch while the old request is running
  expect(await r.router.drain([old.backend], 100)).toEqual({ drained: false, inFlight: 1 });
  const started = performance.now();
  expect(await r.router.drain([old.backend], 5000)).toEqual({ drained: true, inFlight: 0 });
  expect(performance.now() - started).toBeGreaterThan(300);
  expect(await slow).toBe("slow done");
  expect(((await (await get(r, "web.test")).json()) as { name: string }).name).toBe("new");
});

test("a streaming response counts until its body is done; a client that goes away stops the count", async () => {
  const r = startRouter();
  const up = startUpstream("web", () => {
    let i = 0;
    return new Response(
      new ReadableStream({
        async pull(c) {
          await Bun.sleep(100);
          if (i++ === 5) return c.close();
          c.enqueue(new TextEncoder().encode("chunk\n"));
        },
      }),
    );
  });
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const res = await get(r, "web.test");
  expect(await r.router.drain([up.backend], 50)).toEqual({ drained: false, inFlight: 1 });
  expect(await res.text()).toBe("chunk\n".repeat(5));
  expect(await r.router.drain([up.backend], 1000)).toEqual({ drained: true, inFlight: 0 });

  const gone = new AbortController();
  const res2 = await get(r, "web.test", "/", { signal: gone.signal });
  await res2.body!.getReader().read();
  gone.abort();
  expect(await r.router.drain([up.backend], 2000)).toEqual({ drained: true, inFlight: 0 });

  const hanging = startUpstream("hang", () => new Promise<Response>(() => {}));
  r.router.setRoute("hang", ["hang.test"], [hanging.backend]);
  const leaving = new AbortController();
  const pending = get(r, "hang.test", "/", { signal: leaving.signal }).catch(() => "aborted");
  await Bun.sleep(100);
  expect(r.router.drain([hanging.backend], 0)).resolves.toEqual({ drained: false, inFlight: 1 });
  leaving.abort();
  expect(await pending).toBe("aborted");
  expect(await r.router.drain([hanging.backend], 2000)).toEqual({ drained: true, inFlight: 0 });
});

test("setRoute switches atomically under a request loop: no errors, old then new, never a mix", async () => {
  const r = startRouter();
  const blue = [startUpstream("blue"), startUpstream("blue")];
  const green = [startUpstream("green"), startUpstream("green")];
  r.router.setRoute("web", ["web.test"], blue.map((u) => u.backend));
  const seen: string[] = [];
  let failures = 0;
  const loop = async () => {
    for (let i = 0; i < 150; i++) {
      const res = await get(r, "web.test");
      if (res.status !== 200) failures++;
      seen.push(((await res.json()) as { name: string }).name);
    }
  };
  const loops = Promise.all([loop(), loop(), loop(), loop()]);
  await Bun.sleep(50);
  r.router.setRoute("web", ["web.test"], green.map((u) => u.backend));
  const switchedAt = seen.length;
  await loops;
  expect(failures).toBe(0);
  expect(seen).toHaveLength(600);
  // requests already in flight at the switch may still answer blue; after those, only green
  expect(seen.slice(switchedAt + 4).every((name) => name === "green")).toBe(true);
  expect(seen.slice(0, switchedAt).every((name) => name === "blue")).toBe(true);
  expect(await r.router.drain(blue.map((u) => u.backend), 1000)).toEqual({ drained: true, inFlight: 0 });
  expect(r.logs).toEqual([]);
});
