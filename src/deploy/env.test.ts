import { expect, test } from "bun:test";
import { Secret } from "../lib/secret.ts";
import { replicaEnv } from "./env.ts";

test("every replica gets the platform's variables; the app's own config comes last; secrets stay Secrets", () => {
  const env = replicaEnv({
    app: "web",
    config: { POOL_SIZE: "10", PHX_SERVER: "false" },
    secretKeyBase: new Secret("skb"),
    cookie: new Secret("cookie"),
    host: "web.apps.example",
  });
  expect(env.PORT).toBe("4000");
  expect(env.APP_NAME).toBe("web");
  expect(env.RELEASE_DISTRIBUTION).toBe("name");
  expect(env.DNS_CLUSTER_QUERY).toBe("web.internal");
  expect(env.PHX_HOST).toBe("web.apps.example");
  expect(env.POOL_SIZE).toBe("10");
  expect(env.PHX_SERVER).toBe("false");
  expect(env.SECRET_KEY_BASE).toBeInstanceOf(Secret);
  expect(env.RELEASE_COOKIE).toBe(env.MY_COOKIE!);
  expect(JSON.stringify(env)).not.toMatch(/skb|"cookie"/);
});
