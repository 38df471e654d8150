/** The benchmark's upstream: a fixed body on 127.0.0.1, port printed on stdout. */
const body = "x".repeat(Number(process.env.BODY_BYTES ?? 128));
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () => new Response(body, { headers: { "content-type": "text/plain" } }),
});
console.log(server.port);
