import { afterEach, expect, test } from "bun:test";
import { get, startRouter, startUpstream, stopAll } from "./support.ts";

afterEach(stopAll);

const encoder = new TextEncoder();

/** A response that writes `count` chunks, `gapMs` apart. */
function tickingBody(count: number, gapMs: number): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      if (i > 0) await Bun.sleep(gapMs);
      if (i === count) return controller.close();
      controller.enqueue(encoder.encode(`tick ${i++}\n`));
    },
  });
}

test("a response written over time arrives incrementally", async () => {
  const r = startRouter();
  const up = startUpstream("web", () => new Response(tickingBody(4, 300), { headers: { "content-type": "text/plain" } }));
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const started = performance.now();
  const res = await get(r, "web.test");
  const reader = res.body!.getReader();
  const arrivals: { at: number; text: string }[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    arrivals.push({ at: performance.now() - started, text: new TextDecoder().decode(value) });
  }
  expect(arrivals.map((a) => a.text).join("")).toBe("tick 0\ntick 1\ntick 2\ntick 3\n");
  expect(arrivals[0]!.at).toBeLessThan(250);
  expect(arrivals.at(-1)!.at).toBeGreaterThan(850);
  expect(arrivals.length).toBeGreaterThanOrEqual(3);
});

test("a 20 MB upload streams to the upstream (it starts reading before the client finishes sending)", async () => {
  const r = startRouter();
  const total = 20 * 1024 * 1024;
  let firstByteAt = 0;
  const up = startUpstream("web", async (req) => {
    let received = 0;
    for await (const chunk of req.body!) {
      if (received === 0) firstByteAt = performance.now();
      received += chunk.length;
    }
    return Response.json({ received });
  });
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const chunk = new Uint8Array(1024 * 1024).fill(7);
  let sent = 0;
  let lastChunkAt = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === total) {
        lastChunkAt = performance.now();
        return controller.close();
      }
      if (sent === total / 2) await Bun.sleep(300); // a pause mid-upload: the upstream must already be reading
      controller.enqueue(chunk);
      sent += chunk.length;
    },
  });
  const res = await get(r, "web.test", "/upload", { method: "POST", body, duplex: "half" } as RequestInit);
  expect(await res.json()).toEqual({ received: total });
  expect(firstByteAt).toBeGreaterThan(0);
  expect(firstByteAt).toBeLessThan(lastChunkAt - 250);
});

test("a 20 MB download streams through", async () => {
  const r = startRouter();
  const block = new Uint8Array(1024 * 1024).fill(9);
  let n = 0;
  const up = startUpstream("web", () =>
    new Response(
      new ReadableStream({
        pull(c) {
          if (n++ === 20) return c.close();
          c.enqueue(block);
        },
      }),
    ),
  );
  r.router.setRoute("web", ["web.test"], [up.backend]);
  const res = await get(r, "web.test");
  let received = 0;
  for await (const chunk of res.body!) received += chunk.length;
  expect(received).toBe(20 * 1024 * 1024);
  expect(await r.router.drain([up.backend], 1000)).toEqual({ drained: true, inFlight: 0 });
});

test(
  "an SSE response silent for 15 s, and a long poll answered after 15 s, both complete",
  async () => {
    const r = startRouter();
    const up = startUpstream("web", async (req) => {
      if (new URL(req.url).pathname === "/poll") {
        await Bun.sleep(15_000);
        return new Response("late answer");
      }
      let i = 0;
      return new Response(
        new ReadableStream({
          async pull(c) {
            if (i === 0) c.enqueue(encoder.encode("data: first\n\n"));
            else if (i === 1) {
              await Bun.sleep(15_000);
              c.enqueue(encoder.encode("data: second\n\n"));
            } else c.close();
            i++;
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    });
    r.router.setRoute("web", ["web.test"], [up.backend]);
    const [sse, poll] = await Promise.all([
      get(r, "web.test", "/events").then((res) => res.text()),
      get(r, "web.test", "/poll").then((res) => res.text()),
    ]);
    expect(sse).toBe("data: first\n\ndata: second\n\n");
    expect(poll).toBe("late answer");
    expect(r.logs).toEqual([]);
  },
  40_000,
);
