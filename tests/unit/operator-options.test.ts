import { describe, expect, it } from "vitest";
import { controllerOf, controllerReference, isControlledBy } from "../../operator/apply.ts";
import { addFinalizerPatch, removeFinalizerPatch } from "../../operator/finalizers.ts";
import { parseBindAddress, runChecks } from "../../operator/http-endpoints.ts";
import { parseOperatorOptions } from "../../operator/options.ts";

describe("operator flags", () => {
  it("has kubebuilder's defaults", () => {
    const o = parseOperatorOptions([], "user");
    expect(o.metricsBindAddress).toBe(":8080");
    expect(o.healthProbeBindAddress).toBe(":8081");
    expect(o.leaderElect).toBe(false);
    expect(o.namespaces).toEqual([]);
    expect(o.workers).toBe(4);
  });

  it("accepts repeated and comma-separated namespaces", () => {
    const o = parseOperatorOptions(
      ["--namespace", "a", "--namespace", "b,c", "--namespace", "a", "--workers", "8", "--leader-elect"],
      "user",
    );
    expect(o.namespaces).toEqual(["a", "b", "c"]);
    expect(o.workers).toBe(8);
    expect(o.leaderElect).toBe(true);
  });

  it("rejects bad numbers", () => {
    expect(() => parseOperatorOptions(["--workers", "0"], "user")).toThrow();
    expect(() => parseOperatorOptions(["--kube-api-qps", "-1"], "user")).toThrow();
  });
});

describe("bind addresses", () => {
  it("parses kubebuilder-style addresses", () => {
    expect(parseBindAddress(":8080")).toEqual({ host: undefined, port: 8080 });
    expect(parseBindAddress("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseBindAddress("[::1]:9000")).toEqual({ host: "::1", port: 9000 });
    expect(parseBindAddress("0")).toBeUndefined();
    expect(() => parseBindAddress("8080x")).toThrow();
  });
});

describe("probe checks", () => {
  it("answers ok when all pass and lists failures otherwise", () => {
    const good = { name: "ping", check: () => undefined };
    const bad = { name: "watches", check: () => "pods silent for 200s" };
    expect(runChecks([good], false)).toEqual({ ok: true, body: "ok" });
    const failed = runChecks([good, bad], false);
    expect(failed.ok).toBe(false);
    expect(failed.body).toContain("[+]ping ok");
    expect(failed.body).toContain("[-]watches failed: pods silent for 200s");
  });
});

describe("finalizer patches", () => {
  const obj = (finalizers?: string[]) => ({ metadata: { name: "x", resourceVersion: "7", finalizers } });

  it("adds to an existing list by appending", () => {
    expect(addFinalizerPatch(obj(["other"]), "mine")).toEqual([
      { op: "add", path: "/metadata/finalizers/-", value: "mine" },
    ]);
  });

  it("creates the list only on the version it read", () => {
    expect(addFinalizerPatch(obj(), "mine")).toEqual([
      { op: "test", path: "/metadata/resourceVersion", value: "7" },
      { op: "add", path: "/metadata/finalizers", value: ["mine"] },
    ]);
  });

  it("does nothing when already present or absent", () => {
    expect(addFinalizerPatch(obj(["mine"]), "mine")).toBeUndefined();
    expect(removeFinalizerPatch(obj(["other"]), "mine")).toBeUndefined();
  });

  it("removes by position guarded by a test", () => {
    expect(removeFinalizerPatch(obj(["a", "mine", "b"]), "mine")).toEqual([
      { op: "test", path: "/metadata/finalizers/1", value: "mine" },
      { op: "remove", path: "/metadata/finalizers/1" },
    ]);
  });
});

describe("owner references", () => {
  const owner = { apiVersion: "test.sovereign.dev/v1", kind: "Widget", metadata: { name: "w", uid: "u1" } };

  it("builds a controller reference", () => {
    expect(controllerReference(owner)).toEqual({
      apiVersion: "test.sovereign.dev/v1",
      kind: "Widget",
      name: "w",
      uid: "u1",
      controller: true,
      blockOwnerDeletion: true,
    });
    expect(() => controllerReference({ metadata: { name: "w" } })).toThrow();
  });

  it("finds the controller of a child", () => {
    const child = { metadata: { name: "c", ownerReferences: [controllerReference(owner)] } };
    expect(isControlledBy(child, "u1")).toBe(true);
    expect(isControlledBy(child, "u2")).toBe(false);
    expect(controllerOf(child)?.name).toBe("w");
  });
});
