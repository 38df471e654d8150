import { expect, test } from "bun:test";
import { parseObserverNode } from "./observer-channel.ts";

test("the node's answer: name, distribution port, cookie (kept a Secret)", () => {
  const found = parseObserverNode("warning: something\nbeamstalk-node=shop@172.18.0.3\nbeamstalk-dist-port=9100\nbeamstalk-cookie=abc-DEF_123\n");
  expect(found?.node).toBe("shop@172.18.0.3");
  expect(found?.distPort).toBe(9100);
  expect(found?.cookie.reveal()).toBe("abc-DEF_123");
  expect(JSON.stringify(found)).not.toContain("abc-DEF_123");
  expect(parseObserverNode("beamstalk-node=shop@172.18.0.3\nbeamstalk-dist-port=0\nbeamstalk-cookie=x\n")?.distPort).toBe(0);
  expect(parseObserverNode("beamstalk-node=shop@172.18.0.3\nbeamstalk-cookie=x\n")).toBeNull();
  expect(parseObserverNode("beamstalk-node=nonode\nbeamstalk-dist-port=9100\nbeamstalk-cookie=x\n")).toBeNull();
  expect(parseObserverNode("")).toBeNull();
});
