import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { flagTableMarkdown, OptionsError, parseRouterArgs } from "../../router/options.ts";

const base = ["--backend", "llama=http://127.0.0.1:8001"];

describe("parseRouterArgs", () => {
  it("has vLLM's port and sane limits by default", () => {
    const o = parseRouterArgs(base);
    expect(o.port).toBe(8000);
    expect(o.host).toBe("0.0.0.0");
    expect(o.backends).toEqual([
      { model: "llama", origin: "http://127.0.0.1:8001", pool: undefined, vendor: undefined },
    ]);
    expect(o.limits).toEqual({
      ratePerSecond: 0,
      burst: 1,
      maxConcurrency: 0,
      maxQueue: 10_000,
      maxQueueWaitMs: 30_000,
    });
    expect(o.maxBodyBytes).toBe(4 << 20);
    expect(o.upstreamConnections).toBe(o.maxInflightPerReplica);
    expect(o.sessionHeader).toBe("x-session-id");
  });

  it("reads repeatable backends with pool and vendor, services, and tenant overrides", () => {
    const o = parseRouterArgs([
      "--backend",
      "m=http://127.0.0.2:8000,pool=h100,vendor=nvidia",
      "--backend",
      "m=http://127.0.0.3:8000,pool=mi300x,vendor=amd",
      "--namespace",
      "ns",
      "--service",
      "llama-svc=llama",
      "--tenant-limit",
      "acme:rate=5,max-queue-wait-seconds=2",
      "--rate",
      "10",
      "--session-header",
      "",
    ]);
    expect(o.backends.map((b) => b.pool)).toEqual(["h100", "mi300x"]);
    expect(o.services).toEqual([{ service: "llama-svc", model: "llama" }]);
    expect(o.tenantLimits.get("acme")).toEqual({ ratePerSecond: 5, maxQueueWaitMs: 2000 });
    expect(o.limits.burst).toBe(10);
    expect(o.sessionHeader).toBeUndefined();
  });

  it.each([
    [[], /nothing to route to/],
    [["--backend", "nourl"], /--backend nourl/],
    [["--backend", "m=ftp://x"], /only http/],
    [["--backend", "m=http://x:1,zone=a"], /unknown attribute "zone=a"/],
    [[...base, "--port", "99999"], /--port: expected an integer from 0 to 65535/],
    [[...base, "--rate", "fast"], /--rate: expected a number/],
    [[...base, "--service", "svc=m"], /--service needs --namespace/],
    [[...base, "--namespace", "n", "--service", "Bad_Name=m"], /--service Bad_Name=m/],
    [[...base, "--tenant-limit", "a:speed=1"], /unknown limit "speed"/],
    [[...base, "--log-level", "loud"], /--log-level/],
    [[...base, "--no-such-flag"], /no-such-flag/],
    [[...base, "--api-keys-file", "a", "--namespace", "n", "--api-keys-secret", "b"], /exclusive/],
  ])("rejects %j naming the flag", (args, message) => {
    expect(() => parseRouterArgs(args as string[])).toThrow(OptionsError);
    expect(() => parseRouterArgs(args as string[])).toThrow(message);
  });
});

describe("router/README.md", () => {
  it("documents every flag exactly as the parser has it", () => {
    const readme = readFileSync(new URL("../../router/README.md", import.meta.url), "utf8");
    expect(readme).toContain(flagTableMarkdown());
  });
});
