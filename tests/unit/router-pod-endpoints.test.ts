// The operator's router mode: engine Pods to replicas (ready, not deleting, with an IP; the
// "http" port), and the --pods flag.
import { describe, expect, it } from "vitest";
import { OptionsError, parsePodMapping } from "../../router/options.ts";
import { type EnginePodLike, endpointsFromPods } from "../../router/pod-endpoints.ts";

const pod = (
  name: string,
  ip: string | undefined,
  ready: boolean,
  extra: Partial<EnginePodLike> = {},
): EnginePodLike => ({
  metadata: { name, labels: { "stack.sovereign.dev/pool": "h100" } },
  spec: {
    containers: [
      { ports: [{ name: "http", containerPort: 8001 }], resources: { limits: { "nvidia.com/gpu": "1" } } },
    ] as never,
  },
  status: { ...(ip ? { podIP: ip } : {}), conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  ...extra,
});

describe("endpointsFromPods", () => {
  it("keeps every pod with an IP, ready only when Ready is True and it is not being deleted", () => {
    const endpoints = endpointsFromPods([
      pod("b", "127.64.0.3", true),
      pod("a", "127.64.0.2", false),
      pod("c", undefined, true),
      pod("d", "127.64.0.4", true, { metadata: { name: "d", deletionTimestamp: "2026-12-03T10:00:00Z" } }),
    ]);
    expect(endpoints).toEqual([
      { address: "127.64.0.2:8001", ready: false, pool: "h100", vendor: "nvidia" },
      { address: "127.64.0.3:8001", ready: true, pool: "h100", vendor: "nvidia" },
      { address: "127.64.0.4:8001", ready: false, pool: undefined, vendor: "nvidia" },
    ]);
  });

  it("uses vLLM's port when no container port is named http", () => {
    const [e] = endpointsFromPods([{ ...pod("a", "127.64.0.9", true), spec: { containers: [{}] } }]);
    expect(e?.address).toBe("127.64.0.9:8000");
  });
});

describe("--pods", () => {
  it("splits the model from the selector at the first =", () => {
    expect(parsePodMapping("llama-8b=app=x,group=server")).toEqual({
      model: "llama-8b",
      selector: "app=x,group=server",
    });
  });
  it("names the flag when the selector is missing", () => {
    expect(() => parsePodMapping("llama")).toThrow(OptionsError);
    expect(() => parsePodMapping("llama=")).toThrow(/--pods llama=/);
  });
});
