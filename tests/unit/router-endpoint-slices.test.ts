import { describe, expect, it } from "vitest";
import { type EndpointSliceLike, endpointsFromSlices, podFacts } from "../../router/endpoint-slices.ts";

const slice = (
  endpoints: EndpointSliceLike["endpoints"],
  ports: EndpointSliceLike["ports"] = [{ name: "http", port: 8000 }],
): EndpointSliceLike => ({
  metadata: { name: "s", labels: { "kubernetes.io/service-name": "llama" } },
  addressType: "IPv4",
  endpoints,
  ports,
});

describe("endpointsFromSlices", () => {
  it("takes ready from conditions (nil means ready) and not while terminating", () => {
    const eps = endpointsFromSlices(
      [
        slice([
          { addresses: ["10.0.0.1"], conditions: { ready: true } },
          { addresses: ["10.0.0.2"], conditions: { ready: false } },
          { addresses: ["10.0.0.3"], conditions: {} },
          { addresses: ["10.0.0.4"], conditions: { ready: true, terminating: true } },
        ]),
      ],
      () => undefined,
    );
    expect(eps.map((e) => [e.address, e.ready])).toEqual([
      ["10.0.0.1:8000", true],
      ["10.0.0.2:8000", false],
      ["10.0.0.3:8000", true],
      ["10.0.0.4:8000", false],
    ]);
  });

  it("uses the port named http, else the first TCP port, and skips slices without one", () => {
    const named = slice(
      [{ addresses: ["10.0.0.1"] }],
      [
        { name: "metrics", port: 9090 },
        { name: "http", port: 8000 },
      ],
    );
    const first = slice([{ addresses: ["10.0.0.2"] }], [{ port: 7000 }]);
    const none = slice([{ addresses: ["10.0.0.3"] }], []);
    expect(endpointsFromSlices([named, first, none], () => undefined).map((e) => e.address)).toEqual([
      "10.0.0.1:8000",
      "10.0.0.2:7000",
    ]);
  });

  it("merges an address that two slices list, ready if either says so", () => {
    const a = slice([{ addresses: ["10.0.0.1"], conditions: { ready: false } }]);
    const b = slice([{ addresses: ["10.0.0.1"], conditions: { ready: true } }]);
    expect(endpointsFromSlices([a, b], () => undefined)).toEqual([
      { address: "10.0.0.1:8000", ready: true, pool: undefined, vendor: undefined },
    ]);
  });

  it("reads pool and vendor from the pod an endpoint points at", () => {
    const pod = {
      metadata: { name: "p1", labels: { "stack.sovereign.dev/pool": "mi300x" } },
      spec: { containers: [{ resources: { limits: { "amd.com/gpu": "1", cpu: "4" } } }] },
    };
    const eps = endpointsFromSlices(
      [slice([{ addresses: ["10.0.0.9"], targetRef: { kind: "Pod", name: "p1" } }])],
      (name) => (name === "p1" ? podFacts(pod) : undefined),
    );
    expect(eps[0]).toMatchObject({ pool: "mi300x", vendor: "amd" });
  });
});
