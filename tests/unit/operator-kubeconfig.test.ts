import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  credentialSource,
  fromKubeConfigLike,
  loadInCluster,
  loadKubeconfigFiles,
} from "../../operator/kubeconfig.ts";

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

describe("where credentials come from (one order for the operator and stackctl)", () => {
  const home = join(homedir(), ".kube", "config");
  it.each([
    {
      what: "--kubeconfig first",
      path: "/x",
      env: { KUBECONFIG: "/a" },
      inCluster: true,
      want: { kind: "files", paths: ["/x"] },
    },
    {
      what: "then $KUBECONFIG, a list",
      path: undefined,
      env: { KUBECONFIG: `/a${delimiter}/b` },
      inCluster: true,
      want: { kind: "files", paths: ["/a", "/b"] },
    },
    {
      what: "then the service account",
      path: undefined,
      env: {},
      inCluster: true,
      want: { kind: "in-cluster" },
    },
    {
      what: "then ~/.kube/config",
      path: undefined,
      env: { KUBECONFIG: "" },
      inCluster: false,
      want: { kind: "files", paths: [home] },
    },
  ])("$what", ({ path, env, inCluster, want }) => {
    expect(credentialSource(path, env, () => inCluster)).toEqual(want);
  });
});

describe("credentials refused or expired", () => {
  /** A plugin printing a new token (and a certificate expiring in two minutes) on every run. */
  async function countingPlugin(): Promise<string> {
    const counter = join(dir, `runs-${Math.random().toString(36).slice(2)}`);
    await writeFile(counter, "0");
    const script = [
      `const fs = require("node:fs");`,
      `const n = Number(fs.readFileSync(${JSON.stringify(counter)}, "utf8")) + 1;`,
      `fs.writeFileSync(${JSON.stringify(counter)}, String(n));`,
      `const expirationTimestamp = new Date(Date.now() + 120000).toISOString();`,
      `console.log(JSON.stringify({ kind: "ExecCredential", status: { token: "t" + n, clientCertificateData: "CERT" + n, clientKeyData: "KEY" + n, expirationTimestamp } }));`,
    ].join(" ");
    const file = join(dir, `plugin-${Math.random().toString(36).slice(2)}`);
    await writeFile(
      file,
      [
        "current-context: p",
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]",
        "contexts: [{name: p, context: {cluster: c, user: u}}]",
        "users:",
        "- name: u",
        "  user:",
        "    exec:",
        `      command: ${JSON.stringify(process.execPath)}`,
        `      args: ["-e", ${JSON.stringify(script)}]`,
      ].join("\n"),
    );
    return file;
  }

  it("a refused exec credential is asked for again, a cached one is not", async () => {
    const c = loadKubeconfigFiles([await countingPlugin()]);
    expect(await c.authHeaders()).toEqual({ Authorization: "Bearer t1" });
    expect(await c.authHeaders()).toEqual({ Authorization: "Bearer t1" });
    c.invalidate?.();
    expect(await c.authHeaders()).toEqual({ Authorization: "Bearer t2" });
  });

  it("a plugin's client certificate says when it must be renewed: a minute before it expires", async () => {
    const c = loadKubeconfigFiles([await countingPlugin()]);
    const before = Date.now();
    const tls = await c.tlsOptions();
    expect(tls.cert?.toString()).toBe("CERT1");
    expect(tls.key?.toString()).toBe("KEY1");
    expect(tls.expiresAt).toBeGreaterThan(before + 50_000);
    expect(tls.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
  });

  it("a refused token file is read again at once", async () => {
    const tokenPath = join(dir, "rotating-token");
    await writeFile(tokenPath, "old");
    const file = join(dir, "token-file-config");
    await writeFile(
      file,
      [
        "current-context: t",
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]",
        "contexts: [{name: t, context: {cluster: c, user: u}}]",
        `users: [{name: u, user: {tokenFile: ${JSON.stringify(tokenPath)}}}]`,
      ].join("\n"),
    );
    const c = loadKubeconfigFiles([file]);
    expect(await c.authHeaders()).toEqual({ Authorization: "Bearer old" });
    await writeFile(tokenPath, "new");
    expect(await c.authHeaders()).toEqual({ Authorization: "Bearer old" });
    c.invalidate?.();
    expect(await c.authHeaders()).toEqual({ Authorization: "Bearer new" });
  });
});
