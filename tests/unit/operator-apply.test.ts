import { describe, expect, it } from "vitest";
import { appliedIntent, appliedIntentHashAnnotation, isApplied } from "../../operator/apply.ts";
import { builtin, type KubeObject } from "../../operator/resource.ts";

const service = (labels: Record<string, string>): KubeObject => ({
  metadata: { name: "svc", namespace: "ns", labels },
  spec: { selector: { app: "a" }, ports: [{ port: 80 }] },
});

/** The child as the server returns it after applying `intent`: defaults and other fields added. */
const live = (intent: KubeObject): KubeObject => ({
  ...intent,
  metadata: { ...intent.metadata, uid: "u", resourceVersion: "7" },
  spec: { ...(intent.spec as object), clusterIP: "10.0.0.1", ports: [{ port: 80, protocol: "TCP" }] },
});

describe("appliedIntent", () => {
  it("adds the type and the hash of the intent, whatever its key order", () => {
    const a = appliedIntent(builtin.services, service({ x: "1", y: "2" }));
    const b = appliedIntent(builtin.services, service({ y: "2", x: "1" }));
    expect(a.kind).toBe("Service");
    expect(a.apiVersion).toBe("v1");
    expect(a.metadata.annotations?.[appliedIntentHashAnnotation]).toBe(
      b.metadata.annotations?.[appliedIntentHashAnnotation],
    );
    expect(a.metadata.annotations?.[appliedIntentHashAnnotation]).not.toBe(
      appliedIntent(builtin.services, service({ x: "1" })).metadata.annotations?.[
        appliedIntentHashAnnotation
      ],
    );
  });

  it("keeps the child's own annotations and ignores undefined members", () => {
    const desired: KubeObject = {
      metadata: { name: "c", annotations: { mine: "yes" }, labels: undefined },
      data: { k: "v", gone: undefined },
    };
    const intent = appliedIntent(builtin.configMaps, desired);
    expect(intent.metadata.annotations?.mine).toBe("yes");
    expect(intent.data).toEqual({ k: "v" });
  });

  it("makes the intent of one desired object once, per resource type", () => {
    const desired = service({ x: "1" });
    const first = appliedIntent(builtin.services, desired);
    expect(appliedIntent(builtin.services, desired)).toBe(first);
    expect(appliedIntent(builtin.services, service({ x: "1" }))).not.toBe(first);
    expect(appliedIntent(builtin.configMaps, desired).kind).toBe("ConfigMap");
  });

  it("hashes an intent as the JSON that is sent: undefined members out, undefined items null", () => {
    const desired: KubeObject = {
      metadata: { name: "c", labels: undefined },
      data: { k: "v", gone: undefined, list: [1, undefined, { a: undefined, b: 2 }] } as never,
    };
    const sent = JSON.parse(JSON.stringify(desired)) as KubeObject;
    const hash = (o: KubeObject) =>
      appliedIntent(builtin.configMaps, o).metadata.annotations?.[appliedIntentHashAnnotation];
    expect(hash(desired)).toBe(hash(sent));
    expect(hash(desired)).not.toBe(hash({ ...sent, data: { k: "v" } }));
  });
});

describe("isApplied (the no-request check)", () => {
  it("skips an intent that was applied last and still holds", () => {
    const intent = appliedIntent(builtin.services, service({ app: "a" }));
    expect(isApplied(intent, live(intent))).toBe(true);
  });

  it("applies an intent that dropped a field, though the child is a superset of it", () => {
    const before = appliedIntent(builtin.services, service({ app: "a", stale: "1" }));
    const after = appliedIntent(builtin.services, service({ app: "a" }));
    expect(isApplied(after, live(before))).toBe(false);
  });

  it("applies over a child written before hashes were kept, or changed by someone else", () => {
    const intent = appliedIntent(builtin.services, service({ app: "a" }));
    const child = live(intent);
    const { [appliedIntentHashAnnotation]: _hash, ...rest } = child.metadata.annotations ?? {};
    expect(isApplied(intent, { ...child, metadata: { ...child.metadata, annotations: rest } })).toBe(false);
    const edited = { ...child, metadata: { ...child.metadata, labels: { app: "edited" } } };
    expect(isApplied(intent, edited)).toBe(false);
  });

  it("applies over nothing and over a child being deleted", () => {
    const intent = appliedIntent(builtin.services, service({ app: "a" }));
    expect(isApplied(intent, undefined)).toBe(false);
    const child = live(intent);
    expect(
      isApplied(intent, {
        ...child,
        metadata: { ...child.metadata, deletionTimestamp: "2026-01-01T00:00:00Z" },
      }),
    ).toBe(false);
  });
});
