import { loadAll } from "js-yaml";
import { describe, expect, it } from "vitest";
import { componentCommands, componentNames } from "../../cli/dev/components.ts";
import { exitCodeAnnotation, kwokStagesYaml } from "../../cli/dev/kwok-stages.ts";
import { claimPodRange } from "../../cli/dev/pod-range.ts";
import { defaultPreset, simulatedNodes } from "../../cli/dev/simulated-nodes.ts";
import { vendorCatalog } from "../../crds/vendors.ts";

const layout = {
  dir: "/tmp/x",
  binDir: "/tmp/bin",
  ports: {
    etcd: 2001,
    etcdPeer: 2002,
    apiserver: 2003,
    controllerManager: 2004,
    scheduler: 2005,
    kwok: 2006,
    operatorMetrics: 2007,
    operatorHealth: 2008,
  },
  podCidr: "127.65.0.1/16",
};

describe("control-plane command lines", () => {
  const commands = componentCommands(layout);

  it("starts every component, in dependency order", () => {
    expect(commands.map((c) => c.name)).toEqual([...componentNames]);
  });

  it("gives kwok the pod range the cluster claimed", () => {
    expect(commands.find((c) => c.name === "kwok")?.args).toContain("--cidr=127.65.0.1/16");
  });

  it("claims a pod range no other local cluster holds, and frees it with its socket", async () => {
    const first = await claimPodRange();
    const second = await claimPodRange();
    expect(second.cidr).not.toBe(first.cidr);
    for (const c of [first, second])
      expect(c.cidr).toMatch(/^127\.(6[4-9]|[7-9]\d|1\d\d|2[0-4]\d|25[0-4])\.0\.1\/16$/);
    await new Promise((resolve) => first.marker.close(resolve));
    const third = await claimPodRange();
    expect(third.cidr).toBe(first.cidr);
    for (const c of [second, third]) await new Promise((resolve) => c.marker.close(resolve));
  });

  it("listens and connects only on loopback", () => {
    const networkArgs = commands.flatMap((c) =>
      c.args.filter((a) => /^--[a-z-]*(url|address|servers|node-ip)[a-z-]*=/.test(a)),
    );
    expect(networkArgs.length).toBeGreaterThan(8);
    for (const arg of networkArgs) {
      const value = arg.slice(arg.indexOf("=") + 1);
      for (const item of value.split(",")) {
        const host = item
          .replace(/^[a-z]+=/, "")
          .replace(/^[a-z]+:\/\//, "")
          .split(/[:/]/)[0];
        expect(host, arg).toBe("127.0.0.1");
      }
    }
  });

  it("gives each component its own port", () => {
    const portArgs = commands.flatMap((c) => c.args.filter((a) => /port|url|address|servers/.test(a)));
    const ports = portArgs.flatMap((a) => [...a.matchAll(/[:=](\d{4,5})\b/g)].map((m) => m[1]));
    expect(new Set(ports)).toEqual(new Set(Object.values(layout.ports).map(String)));
  });
});

describe("simulated accelerator nodes", () => {
  it("gives the default preset's pools the documented shape", () => {
    const byPool = Object.fromEntries(defaultPreset.map((p) => [p.name, simulatedNodes(p)]));
    expect(byPool.h100).toHaveLength(4);
    expect(byPool.h100?.[0]?.status?.capacity?.["nvidia.com/gpu"]).toBe("8");
    expect(byPool.mi300x?.[1]?.status?.capacity?.["amd.com/gpu"]).toBe("8");
    expect(byPool["tpu-v5e"]?.[3]?.status?.capacity?.["google.com/tpu"]).toBe("4");
    expect(Object.keys(byPool.cpu?.[0]?.status?.capacity ?? {})).toEqual(["cpu", "memory", "pods"]);
    expect(byPool.h100?.map((n) => n.metadata?.name)).toEqual(["h100-0", "h100-1", "h100-2", "h100-3"]);
  });

  it("writes device memory the way each vendor's labeller does, readable back through the catalog", () => {
    for (const pool of defaultPreset) {
      const acc = pool.accelerator;
      if (!acc) continue;
      const info = vendorCatalog[acc.vendor];
      const labels = simulatedNodes(pool)[0]?.metadata?.labels ?? {};
      expect(labels[info.productLabel ?? ""]).toBe(acc.model);
      expect(info.parseMemoryGiB(labels[info.memoryLabel ?? ""] ?? "")).toBe(acc.memoryGiB);
    }
  });

  it("refuses a vendor without a resource name unless the pool gives one", () => {
    const pool = {
      name: "x",
      nodes: 1,
      cpu: "1",
      memory: "1Gi",
      accelerator: { vendor: "other" as const, model: "m", devicesPerNode: 1, memoryGiB: 1 },
    };
    expect(() => simulatedNodes(pool)).toThrow(/needs a resourceName/);
    expect(
      simulatedNodes({ ...pool, accelerator: { ...pool.accelerator, resourceName: "acme.com/npu" } })[0]
        ?.status?.capacity,
    ).toHaveProperty("acme.com/npu", "1");
  });
});

describe("kwok stages", () => {
  it("is a stream of Stage objects for nodes and pods, including the simulated exits", () => {
    const docs = loadAll(kwokStagesYaml()) as {
      kind: string;
      metadata: { name: string };
      spec: { resourceRef: { kind: string } };
    }[];
    expect(docs.every((d) => d.kind === "Stage")).toBe(true);
    expect(docs.map((d) => d.metadata.name)).toEqual([
      "node-ready",
      "pod-running",
      "pod-succeed",
      "pod-fail",
      "pod-delete",
    ]);
    expect(kwokStagesYaml()).toContain(exitCodeAnnotation);
  });
});
