import { expect, test } from "bun:test";
import { parseGitPath } from "./http-path.ts";

const url = (path: string) => `http://h${path}`;

test("smart HTTP paths, with or without .git", () => {
  expect(parseGitPath("GET", url("/shop.git/info/refs?service=git-receive-pack"))).toEqual({
    ok: true,
    route: { kind: "advertise", app: "shop", service: "git-receive-pack" },
  });
  expect(parseGitPath("GET", url("/shop/info/refs?service=git-upload-pack"))).toEqual({
    ok: true,
    route: { kind: "advertise", app: "shop", service: "git-upload-pack" },
  });
  expect(parseGitPath("POST", url("/my-app.git/git-upload-pack"))).toEqual({ ok: true, route: { kind: "rpc", app: "my-app", service: "git-upload-pack" } });
  expect(parseGitPath("POST", url("/my-app/git-receive-pack"))).toEqual({ ok: true, route: { kind: "rpc", app: "my-app", service: "git-receive-pack" } });
});

test("other paths fall through", () => {
  for (const path of ["/", "/v1/apps", "/shop.git", "/shop.git/HEAD", "/shop.git/objects/info/packs"]) {
    expect(parseGitPath("GET", url(path))).toBeNull();
  }
});

test("bad names and nested paths are 400", () => {
  for (const name of ["-h", "--upload-pack=x", "..%2fx", "a;id", "$(id)", "x", "A", "a%00b", "shop.git.git", "a%2fb"]) {
    expect(parseGitPath("GET", url(`/${name}.git/info/refs?service=git-upload-pack`))).toMatchObject({ ok: false, status: 400 });
  }
  expect(parseGitPath("POST", url("/a/shop.git/git-receive-pack"))).toMatchObject({ ok: false, status: 400 });
  expect(parseGitPath("POST", url("//shop.git/git-receive-pack"))).toMatchObject({ ok: false, status: 400 });
});

test("dumb HTTP, unknown services and wrong methods are refused", () => {
  expect(parseGitPath("GET", url("/shop.git/info/refs"))).toMatchObject({ ok: false, status: 400 });
  expect(parseGitPath("GET", url("/shop.git/info/refs?service=git-upload-archive"))).toMatchObject({ ok: false, status: 400 });
  expect(parseGitPath("POST", url("/shop.git/info/refs?service=git-upload-pack"))).toMatchObject({ ok: false, status: 405 });
  expect(parseGitPath("GET", url("/shop.git/git-receive-pack"))).toMatchObject({ ok: false, status: 405 });
});
