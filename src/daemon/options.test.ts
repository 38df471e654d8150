import { describe, expect, test } from "bun:test";
import { successorArgv } from "./handover.ts";
import { resolveServerOptions } from "./options.ts";

describe("resolveServerOptions", () => {
  test("defaults", () => {
    expect(resolveServerOptions({}, {})).toEqual({
      dataDir: "/var/lib/beamstalk",
      bind: "0.0.0.0",
      httpPort: 80,
      httpsPort: 443,
      sshPort: 2222,
      acmeDirectory: "https://acme-v02.api.letsencrypt.org/directory",
      runner: "docker",
    });
  });

  test("the runner: docker by default, swarm by flag or BEAMSTALK_RUNNER, nothing else", () => {
    expect(resolveServerOptions({}, { BEAMSTALK_RUNNER: "swarm" }).runner).toBe("swarm");
    expect(resolveServerOptions({ runner: "docker", swarmAdvertiseAddr: "10.1.2.3" }, { BEAMSTALK_RUNNER: "swarm" })).toMatchObject({ runner: "docker", swarmAdvertiseAddr: "10.1.2.3" });
    expect(() => resolveServerOptions({ runner: "k8s" }, {})).toThrow('--runner must be one of docker, swarm, k3s, got "k8s"');
  });

  test("the k3s runner: a kubeconfig (else KUBECONFIG or in-cluster) and the pod network", () => {
    expect(resolveServerOptions({ runner: "k3s" }, {})).toEqual(expect.objectContaining({ runner: "k3s", k3sPodCidrs: ["10.42.0.0/16"], k3sRouterCidrs: [] }));
    expect(resolveServerOptions({ runner: "k3s" }, {}).kubeconfig).toBeUndefined();
    expect(resolveServerOptions({ runner: "k3s", kubeconfig: "/etc/rancher/k3s/k3s.yaml" }, { BEAMSTALK_K3S_POD_CIDR: "10.42.0.0/16, fd00:42::/56", BEAMSTALK_K3S_ROUTER_CIDR: "10.42.1.0/32" })).toMatchObject({
      kubeconfig: "/etc/rancher/k3s/k3s.yaml",
      k3sPodCidrs: ["10.42.0.0/16", "fd00:42::/56"],
      k3sRouterCidrs: ["10.42.1.0/32"],
    });
    expect(resolveServerOptions({ runner: "docker" }, {}).k3sPodCidrs).toBeUndefined();
    expect(() => resolveServerOptions({ runner: "k3s", k3sPodCidrs: "10.42.0.0" }, {})).toThrow('--k3s-pod-cidr / --k3s-router-cidr: "10.42.0.0" is not a CIDR');
    expect(() => resolveServerOptions({ runner: "k3s", k3sPodCidrs: " " }, {})).toThrow(/must name the cluster's pod network/);
  });

  test("a successor daemon (beamstalk upgrade) gets the k3s flags back as it was given them", () => {
    const k3s = resolveServerOptions({ runner: "k3s", kubeconfig: "/etc/k.yaml", k3sPodCidrs: "10.42.0.0/16,fd00:42::/56", k3sRouterCidrs: "10.42.1.0/32" }, {});
    const argv = successorArgv(k3s, { http: 80, https: 443, ssh: 2222 }, 1);
    const flag = (name: string) => argv[argv.indexOf(name) + 1];
    expect([flag("--runner"), flag("--kubeconfig"), flag("--k3s-pod-cidr"), flag("--k3s-router-cidr")]).toEqual(["k3s", "/etc/k.yaml", "10.42.0.0/16,fd00:42::/56", "10.42.1.0/32"]);
    const docker = successorArgv(resolveServerOptions({}, {}), { http: 80, https: 443, ssh: 2222 }, 1);
    expect(docker.filter((a) => /kube|k3s/.test(a))).toEqual([]);
  });

  test("flags win over BEAMSTALK_* variables, which win over defaults", () => {
    const env = { BEAMSTALK_HTTP_PORT: "8080", BEAMSTALK_SSH_PORT: "2200", BEAMSTALK_BASE_DOMAIN: "Apps.Example.com" };
    const opts = resolveServerOptions({ httpPort: "9090" }, env);
    expect(opts.httpPort).toBe(9090);
    expect(opts.sshPort).toBe(2200);
    expect(opts.baseDomain).toBe("apps.example.com");
  });

  test.each([["httpPort", "abc"], ["httpsPort", "70000"], ["sshPort", "-1"], ["httpPort", "1e3"]])("refuses %s=%p", (flag, value) => {
    expect(() => resolveServerOptions({ [flag]: value }, {})).toThrow(/port number/);
  });

  test("ACME settings and the controller's host name", () => {
    const opts = resolveServerOptions({ acmeDirectory: "https://127.0.0.1:14000/dir", controllerHost: "PaaS.Example.com" }, { BEAMSTALK_ACME_EMAIL: "ops@example.com" });
    expect(opts).toMatchObject({ acmeDirectory: "https://127.0.0.1:14000/dir", controllerHost: "paas.example.com", acmeEmail: "ops@example.com" });
    expect(() => resolveServerOptions({ controllerHost: "not a host" }, {})).toThrow();
  });

  test("the controller URL replicas fetch slugs from: a plain http(s) base URL, trailing slash dropped", () => {
    expect(resolveServerOptions({}, {}).controllerUrl).toBeUndefined();
    expect(resolveServerOptions({ controllerUrl: "http://10.0.0.5:8080/" }, {}).controllerUrl).toBe("http://10.0.0.5:8080");
    expect(resolveServerOptions({}, { BEAMSTALK_CONTROLLER_URL: "https://PaaS.example.com/beamstalk/" }).controllerUrl).toBe("https://paas.example.com/beamstalk");
    expect(() => resolveServerOptions({ controllerUrl: "paas.example.com" }, {})).toThrow(/is not a URL/);
    for (const bad of ["ftp://h", "http://h/?x=1", "http://h/#x", "http://u:p@h/"]) {
      expect(() => resolveServerOptions({ controllerUrl: bad }, {})).toThrow(/plain http\(s\) URL/);
    }
  });

  test("refuses a base domain that is not a domain name", () => {
    expect(() => resolveServerOptions({ baseDomain: "a b" }, {})).toThrow(/not a domain name/);
    expect(() => resolveServerOptions({ baseDomain: "-x.com" }, {})).toThrow(/not a domain name/);
  });
});
