import { describe, expect, test } from "bun:test";
import { closestName, editDistance, unknownCommand } from "./unknown-command.ts";

describe("unknown commands", () => {
  test("edit distance counts a swap of neighbours as one edit", () => {
    expect(editDistance("scale", "scale")).toBe(0);
    expect(editDistance("sacle", "scale")).toBe(1);
    expect(editDistance("confg", "config")).toBe(1);
    expect(editDistance("", "ps")).toBe(2);
  });

  test("a close match is suggested, a far one is not", () => {
    const known = ["ps", "pg", "config:set", "scale", "releases"];
    expect(closestName("sacle", known)).toBe("scale");
    expect(closestName("confg:set", known)).toBe("config:set");
    expect(closestName("nosuch", known)).toBeUndefined();
    expect(closestName("deploy-everything", known)).toBeUndefined();
  });

  test("the error is a usage error naming the command, with the match as the hint", () => {
    const err = unknownCommand("relases", ["releases"]);
    expect(err.code).toBe("usage");
    expect(err.message).toBe('unknown command "relases"');
    expect(err.hint).toBe("did you mean `beamstalk releases`? `beamstalk --help` lists the commands");
    expect(unknownCommand("nosuch", ["releases"]).hint).toBe("`beamstalk --help` lists the commands");
  });
});
