// The shared admitter with the InferenceService adapter, on an in-memory cache: a first
// admission that only partly fits, then the missing replicas asked for alone on a key that
// carries the admitted count, so a grant is merged once and never twice.
import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { Admitter, toAdmissionStatus } from "../../controllers/admission/index.ts";
import {
  type InferenceServiceObject,
  inferenceServiceAdapter,
} from "../../controllers/inferenceservice/adapter.ts";
import { mergeAdmission } from "../../controllers/inferenceservice/replicas.ts";
import { resourceTypes } from "../../controllers/resources.ts";
import { acceleratorPoolResource, inferenceServiceResource } from "../../crds/index.ts";
import { Cache, type Informer, type KubeObject, ObjectStore, silentLogger } from "../../operator/index.ts";
import { type ResourceType, resourceId } from "../../operator/resource.ts";

const rt = resourceTypes.inferenceService;

/** Who may decide: whether this process leads, and whether the workload kind has listed. */
interface Standing {
  leading: boolean;
  workloadsListed: boolean;
}

function world(clock = { now: 1_000_000 }, standing: Standing = { leading: true, workloadsListed: true }) {
  const stores = new Map<string, ObjectStore>();
  const informer = (r: ResourceType) => {
    let store = stores.get(resourceId(r));
    if (!store) {
      store = new ObjectStore();
      stores.set(resourceId(r), store);
    }
    const hasSynced = (): boolean => r !== rt || standing.workloadsListed;
    return {
      store,
      addHandler: () => {},
      get hasSynced() {
        return hasSynced();
      },
    } as unknown as Informer;
  };
  const cache = new Cache((r) => (stores.has(resourceId(r)) ? informer(r) : undefined));
  const admitter = new Admitter({
    cache,
    informer,
    log: silentLogger,
    now: () => clock.now,
    get isLeader() {
      return standing.leading;
    },
  });
  const enqueued: string[] = [];
  admitter.register(inferenceServiceAdapter(rt, (key) => enqueued.push(key)) as never);
  const put = (r: ResourceType, obj: KubeObject) => informer(r).store.upsert(obj);
  put(
    resourceTypes.acceleratorPool,
    acceleratorPoolResource.schema.parse(
      load(readFileSync(new URL("../../samples/acceleratorpool-h100.yaml", import.meta.url), "utf8")),
    ) as KubeObject,
  );
  // One H100 node with 3 free devices.
  put(resourceTypes.node, {
    metadata: { name: "h100-0", labels: { "sovereign.dev/pool": "h100" } },
    status: {
      allocatable: { cpu: "64", memory: "512Gi", "nvidia.com/gpu": "3" },
      conditions: [{ type: "Ready", status: "True" }],
    },
  });
  return { admitter, put, enqueued };
}

const svc = (
  name: string,
  replicas: number,
  status?: Record<string, unknown>,
  generation = 1,
): InferenceServiceObject =>
  inferenceServiceResource.schema.parse({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "InferenceService",
    metadata: { name, namespace: "ml", uid: name, generation, creationTimestamp: "2025-01-01T00:00:00Z" },
    spec: {
      model: { uri: "hf://a/b" },
      engine: { image: "i" },
      accelerators: { count: 1 },
      replicas,
    },
    ...(status ? { status } : {}),
  }) as InferenceServiceObject;

describe("admitting an InferenceService replica by replica", () => {
  it("admits what fits, then only the missing replicas, each grant once", () => {
    const { admitter, put, enqueued } = world();
    put(rt, svc("llama", 2));
    admitter.pass();
    const first = admitter.decisionFor(rt, "ml/llama");
    expect(first?.type).toBe("admitted");
    if (first?.type !== "admitted") return;
    expect(enqueued).toEqual(["ml/llama"]);
    const recorded = toAdmissionStatus(first.admission, new Date(0), true);
    expect(recorded.placements?.map((p) => [p.group, p.replicas])).toEqual([["server/h100", 2]]);

    // Recorded, then scaled to 5: only 3 more are asked for, on the key "@2"; 1 fits.
    put(rt, svc("llama", 5, { admission: recorded }));
    admitter.pass();
    expect(admitter.decisionFor(rt, "ml/llama")).toBeUndefined();
    const more = admitter.decisionFor(rt, "ml/llama@2");
    expect(more?.type).toBe("admitted");
    if (more?.type !== "admitted") return;
    expect(more.admission.groups[0]?.pods).toBe(1);
    expect(more.admission.pendingPods).toBe(2);

    // Until it is recorded the grant is held: another pass keeps it, and nobody else gets the device.
    put(rt, svc("other", 1));
    admitter.pass();
    expect(admitter.decisionFor(rt, "ml/llama@2")).toEqual(more);
    expect(admitter.decisionFor(rt, "ml/other")?.type).toBe("queued");

    // Merged: the request moves to "@3" and the old grant is gone for good.
    const merged = mergeAdmission(recorded, toAdmissionStatus(more.admission, new Date(0), true));
    put(rt, svc("llama", 5, { admission: merged }));
    admitter.pass();
    expect(admitter.decisionFor(rt, "ml/llama@2")).toBeUndefined();
    expect(admitter.decisionFor(rt, "ml/llama@3")).toMatchObject({ type: "queued" });
    expect(admitter.decisionFor(rt, "ml/other")?.type).toBe("queued");
  });

  it("a scale-up of a pool whose nodes were forgotten reserves the new replica: old pods on its node do not offset it", () => {
    const { admitter, put } = world();
    // One replica, its pod bound on h100-0: the record has forgotten the pool's nodes.
    put(resourceTypes.pod, {
      metadata: {
        name: "llama-0",
        namespace: "ml",
        labels: {
          "stack.sovereign.dev/kind": "inferenceservice",
          "stack.sovereign.dev/name": "llama",
          "stack.sovereign.dev/group": "server",
          "stack.sovereign.dev/pool": "h100",
        },
      },
      spec: {
        nodeName: "h100-0",
        containers: [{ name: "engine", resources: { requests: { "nvidia.com/gpu": "1" } } }],
      },
      status: { phase: "Running" },
    } as KubeObject);
    const recorded = {
      admittedAt: "2025-01-01T00:00:00.000Z",
      placements: [
        { group: "server/h100", pool: "h100", replicas: 1, vendor: "nvidia", resourceName: "nvidia.com/gpu" },
      ],
    };
    put(rt, svc("llama", 2, { admission: recorded }));
    admitter.pass();
    const more = admitter.decisionFor(rt, "ml/llama@1");
    if (more?.type !== "admitted") throw new Error("the second replica fits on the node's 3 devices");
    // Merged with the bound pod's node listed again: 1 bound + 1 reserved of the node's 3.
    const merged = mergeAdmission(recorded, toAdmissionStatus(more.admission, new Date(0), true), () => [
      "h100-0",
    ]);
    expect(merged.placements?.[0]?.nodes).toEqual(["h100-0", "h100-0"]);
    put(rt, svc("llama", 2, { admission: merged }));
    put(rt, svc("other", 2));
    admitter.pass();
    // Only 1 device is free (the new replica's pod does not exist yet, but its device is held):
    // the other service gets 1 of its 2 replicas.
    const other = admitter.decisionFor(rt, "ml/other");
    expect(other?.type === "admitted" && other.admission.groups[0]?.pods).toBe(1);
  });

  it("holds a decision nobody has recorded yet for as long as the object is unchanged, however long", () => {
    const clock = { now: 1_000_000 };
    const { admitter, put } = world(clock);
    put(rt, svc("llama", 3));
    admitter.pass();
    const first = admitter.decisionFor(rt, "ml/llama");
    expect(first?.type === "admitted" && first.admission.groups[0]?.pods).toBe(3);

    // The controller is slow to write status.admission (a backlog): an hour later the three
    // devices are still held, so a newcomer waits instead of being given one of them again.
    clock.now += 60 * 60_000;
    put(rt, svc("other", 1));
    admitter.pass();
    expect(admitter.decisionFor(rt, "ml/llama")).toEqual(first);
    expect(admitter.decisionFor(rt, "ml/other")?.type).toBe("queued");

    // The spec changed before the decision was recorded: it was made for a shape that no longer
    // exists, so it is dropped and both are decided again within the node's three devices.
    put(rt, svc("llama", 2, undefined, 2));
    admitter.pass();
    const pods = (key: string) => {
      const d = admitter.decisionFor(rt, key);
      return d?.type === "admitted" ? d.admission.groups.reduce((n, g) => n + g.pods, 0) : 0;
    };
    expect([pods("ml/llama"), pods("ml/other")]).toEqual([2, 1]);
  });
});

/** status.admission of a service admitted alone on the node, as another process recorded it. */
function recordedElsewhere(name: string, replicas: number) {
  const { admitter, put } = world();
  put(rt, svc(name, replicas));
  admitter.pass();
  const decision = admitter.decisionFor(rt, `ml/${name}`);
  if (decision?.type !== "admitted") throw new Error(`${name} is admitted on an empty node`);
  return toAdmissionStatus(decision.admission, new Date(0), true);
}

describe("only a leader with every kind listed decides", () => {
  it("a standby decides nothing, so on taking over it counts what the old leader recorded", () => {
    const standing = { leading: false, workloadsListed: true };
    const { admitter, put } = world(undefined, standing);
    put(rt, svc("waiting", 1));
    admitter.pass();
    // A standby's decision would be held as an assumption while the leader books the devices.
    expect(admitter.decisionFor(rt, "ml/waiting")).toBeUndefined();
    expect(admitter.passes).toBe(0);

    // Meanwhile the leader admits another service onto all three devices and records it.
    put(rt, svc("booked", 3, { admission: recordedElsewhere("booked", 3) }));
    standing.leading = true;
    admitter.pass();
    expect(admitter.decisionFor(rt, "ml/waiting")?.type).toBe("queued");
  });

  it("decides nothing until the workload kind has listed, then counts every recorded admission", () => {
    const standing = { leading: true, workloadsListed: false };
    const { admitter, put } = world(undefined, standing);
    // Half listed: the newcomer is seen, the admitted service not yet.
    put(rt, svc("newcomer", 1));
    admitter.pass();
    expect(admitter.decisionFor(rt, "ml/newcomer")).toBeUndefined();

    put(rt, svc("booked", 3, { admission: recordedElsewhere("booked", 3) }));
    standing.workloadsListed = true;
    admitter.pass();
    expect(admitter.decisionFor(rt, "ml/newcomer")?.type).toBe("queued");
  });
});
