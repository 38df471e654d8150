import { expect, test } from "bun:test";
import { parseGitCommand } from "./git-command.ts";

test("git's own commands, as git sends them", () => {
  expect(parseGitCommand("git-receive-pack '/shop.git'")).toEqual({ service: "git-receive-pack", app: "shop" });
  expect(parseGitCommand("git-receive-pack 'shop.git'")).toEqual({ service: "git-receive-pack", app: "shop" });
  expect(parseGitCommand("git-upload-pack '/my-app'")).toEqual({ service: "git-upload-pack", app: "my-app" });
});

test("anything else is refused", () => {
  for (const command of [
    "", "id", "git-upload-archive 'shop.git'", "git-receive-pack shop.git", "git-receive-pack \"shop.git\"",
    "git-receive-pack '../shop.git'", "git-receive-pack '/a/shop.git'", "git-receive-pack '-h'", "git-upload-pack '--upload-pack=x'",
    "git-receive-pack 'a;id.git'", "git-receive-pack '$(id).git'", "git-receive-pack 'shop.git' x", "git-receive-pack  'shop.git'",
    "git receive-pack 'shop.git'", "git-receive-pack 'shop.git'\n", "git-receive-pack 'Shop.git'",
  ]) {
    expect(parseGitCommand(command)).toBeNull();
  }
});
