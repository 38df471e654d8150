import { expect, test } from "bun:test";
import { checkAttempt, defaultThrottle, failedAttempt } from "./throttle.ts";

test("one IPv6 /64 trying from many addresses is limited as one client", () => {
  const t = defaultThrottle(() => 0);
  for (let i = 1; i <= 10; i++) failedAttempt(t, "password", { address: `2001:db8:1:2::${i.toString(16)}` });
  expect(() => checkAttempt(t, "password", { address: "2001:db8:1:2:ffff::99" })).toThrow(/too many/);
  expect(() => checkAttempt(t, "password", { address: "2001:db8:1:3::1" })).not.toThrow();
});
