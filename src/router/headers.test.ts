import { expect, test } from "bun:test";
import { cleanResponseHeaders, forwardRequestHeaders } from "./headers.ts";

test("request: hop-by-hop and Connection-listed headers go; X-Forwarded-* are set or appended", () => {
  const headers = new Headers({
    host: "App.Test:8080",
    connection: "keep-alive, X-Private",
    "x-private": "1",
    "keep-alive": "300",
    upgrade: "h2c",
    te: "trailers",
    "transfer-encoding": "chunked",
    "proxy-authorization": "Basic eA==",
    "x-forwarded-for": "198.51.100.1",
    "x-forwarded-proto": "https",
    cookie: "a=1",
  });
  forwardRequestHeaders(headers, { clientIp: "203.0.113.5", proto: "http", port: 8080 });
  expect(Object.fromEntries(headers)).toEqual({
    host: "App.Test:8080",
    cookie: "a=1",
    "x-forwarded-for": "198.51.100.1, 203.0.113.5",
    "x-forwarded-proto": "http",
    "x-forwarded-host": "App.Test:8080",
    "x-forwarded-port": "8080",
  });
});

test("response: hop-by-hop headers go, the rest (Content-Encoding included) stay", () => {
  const headers = new Headers({ connection: "close", "keep-alive": "timeout=5", "content-encoding": "gzip", "set-cookie": "s=1" });
  cleanResponseHeaders(headers);
  expect(Object.fromEntries(headers)).toEqual({ "content-encoding": "gzip", "set-cookie": "s=1" });
});
