/** Ceiling probe (not a proxy): Bun.serve answering the benchmark's body itself. Arg: ignored upstream port. */
const body = "x".repeat(Number(process.env.BODY_BYTES ?? 128));
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: () => new Response(body, { headers: { "content-type": "text/plain" } }) });
console.log(server.port);
export {};
