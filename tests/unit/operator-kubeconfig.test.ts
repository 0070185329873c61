import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromKubeConfigLike, loadInCluster, loadKubeconfigFiles } from "../../operator/kubeconfig.ts";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kubeconfig-test-"));
  await writeFile(join(dir, "ca.crt"), "CA-PEM");
  await writeFile(join(dir, "token"), "file-token\n");
  await writeFile(
    join(dir, "first"),
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: dev",
      "clusters:",
      "- name: local",
      "  cluster:",
      "    server: https://127.0.0.1:6443",
      "    certificate-authority: ca.crt",
      "    tls-server-name: kubernetes",
      "contexts:",
      "- name: dev",
      "  context: {cluster: local, user: admin}",
      "- name: files",
      "  context: {cluster: local, user: from-file}",
      "- name: plugin",
      "  context: {cluster: local, user: plugin}",
      "users:",
      "- name: admin",
      "  user: {token: static-token}",
      "- name: from-file",
      "  user: {tokenFile: token}",
      "- name: plugin",
      "  user:",
      "    exec:",
      "      apiVersion: client.authentication.k8s.io/v1",
      `      command: ${JSON.stringify(process.execPath)}`,
      "      args:",
      "      - -e",
      `      - 'console.log(JSON.stringify({apiVersion:"client.authentication.k8s.io/v1",kind:"ExecCredential",status:{token:"exec-"+process.env.EXTRA}}))'`,
      "      env:",
      "      - {name: EXTRA, value: token}",
    ].join("\n"),
  );
  await writeFile(
    join(dir, "second"),
    [
      "current-context: other",
      "clusters:",
      "- name: local",
      "  cluster: {server: https://ignored:1}",
      "- name: remote",
      "  cluster:",
      "    server: https://remote:443",
      `    certificate-authority-data: ${Buffer.from("REMOTE-CA").toString("base64")}`,
      "    insecure-skip-tls-verify: true",
      "contexts:",
      "- name: other",
      "  context: {cluster: remote, user: basic}",
      "users:",
      "- name: basic",
      "  user: {username: alice, password: secret}",
    ].join("\n"),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("kubeconfig files", () => {
  it("reads server, CA file (relative to the file), server name and a static token", async () => {
    const c = loadKubeconfigFiles([join(dir, "first")]);
    expect(c.server).toBe("https://127.0.0.1:6443");
    const tls = await c.tlsOptions();
    expect(tls.ca?.toString()).toBe("CA-PEM");
    expect(tls.servername).toBe("kubernetes");
    expect(await c.authHeaders()).toEqual({ Authorization: "Bearer static-token" });
  });

  it("merges several files: first definition and first current-context win", async () => {
    const c = loadKubeconfigFiles([join(dir, "second"), join(dir, "first")]);
    expect(c.server).toBe("https://remote:443");
    const tls = await c.tlsOptions();
    expect(tls.ca?.toString()).toBe("REMOTE-CA");
    expect(tls.rejectUnauthorized).toBe(false);
    expect(await c.authHeaders()).toEqual({
      Authorization: `Basic ${Buffer.from("alice:secret").toString("base64")}`,
    });
    // The cluster "local" is defined first by "second" here.
    expect(loadKubeconfigFiles([join(dir, "second"), join(dir, "first")], "dev").server).toBe(
      "https://ignored:1",
    );
  });

  it("reads a token file", async () => {
    const c = loadKubeconfigFiles([join(dir, "first")], "files");
    expect(await c.authHeaders()).toEqual({ Authorization: "Bearer file-token" });
  });

  it("runs an exec credential plugin once and caches its token", async () => {
    const c = loadKubeconfigFiles([join(dir, "first")], "plugin");
    const [a, b] = await Promise.all([c.authHeaders(), c.authHeaders()]);
    expect(a).toEqual({ Authorization: "Bearer exec-token" });
    expect(b).toEqual(a);
  });

  it("explains what is wrong", () => {
    expect(() => loadKubeconfigFiles([join(dir, "first")], "missing")).toThrow(/context missing not found/);
    expect(() => loadKubeconfigFiles([join(dir, "nope")])).toThrow(/no current context/);
  });
});

describe("in-cluster", () => {
  it("uses the service account token and CA", async () => {
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = "10.96.0.1";
    process.env.KUBERNETES_SERVICE_PORT = "443";
    try {
      const c = loadInCluster(dir);
      expect(c.server).toBe("https://10.96.0.1:443");
      expect((await c.tlsOptions()).ca?.toString()).toBe("CA-PEM");
      expect(await c.authHeaders()).toEqual({ Authorization: "Bearer file-token" });
    } finally {
      if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.host;
      if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.port;
    }
  });
});

describe("client-node adapter", () => {
  it("takes TLS material and headers from applyToHTTPSOptions", async () => {
    const c = fromKubeConfigLike({
      getCurrentCluster: () => ({ server: "https://x:1" }),
      applyToHTTPSOptions: async (opts: object) => {
        Object.assign(opts, { ca: Buffer.from("C"), headers: { Authorization: "Bearer t" } });
      },
    });
    expect(c.server).toBe("https://x:1");
    expect((await c.tlsOptions()).ca?.toString()).toBe("C");
    expect(await c.authHeaders()).toEqual({ Authorization: "Bearer t" });
  });
});
