import { expect, test } from "bun:test";
import { normalizeHost } from "./hostname.ts";

test("lower case, port stripped, trailing dot dropped, IPv6 brackets removed", () => {
  expect(normalizeHost("Web.Example.COM")).toBe("web.example.com");
  expect(normalizeHost("web.example.com:8080")).toBe("web.example.com");
  expect(normalizeHost("web.example.com.:80")).toBe("web.example.com");
  expect(normalizeHost("[::1]:8080")).toBe("::1");
  expect(normalizeHost("")).toBe("");
});
