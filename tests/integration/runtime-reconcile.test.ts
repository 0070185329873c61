// The runtime on the shared control plane, in-process: a Manager running the test Widget
// controller in one namespace.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventRecorder } from "../../operator/events.ts";
import { addFinalizer, removeFinalizer } from "../../operator/finalizers.ts";
import { KubeClient } from "../../operator/kube-client.ts";
import { createLogger } from "../../operator/log.ts";
import { Manager } from "../../operator/manager.ts";
import { builtin, type KubeObject } from "../../operator/resource.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import {
  configMapName,
  installWidgetCrd,
  type Widget,
  widgetController,
  widgets,
} from "../support/test-controller.ts";
import { sumSeries } from "../support/test-controller-process.ts";

let ns: TestNamespace;
let manager: Manager;
let client: KubeClient;
const reconciles = new Map<string, number>();
const logLines: string[] = [];

const widget = (name: string, spec: Widget["spec"] = {}): Widget => ({
  apiVersion: widgets.apiVersion,
  kind: widgets.kind,
  metadata: { name, namespace: ns.name },
  spec,
});

const readyWidget = (name: string, generation = 1) =>
  eventually(
    async () => {
      const w = await client.get<Widget>(widgets, name, ns.name);
      const ready = w.status?.conditions?.find((c) => c.type === "Ready");
      return ready?.status === "True" && w.status?.observedGeneration === generation ? w : undefined;
    },
    30_000,
    `widget ${name} ready at generation ${generation}`,
  );

const metricsText = async (): Promise<string> =>
  (await fetch(`http://${manager.metricsAddress}/metrics`)).text();

beforeAll(async () => {
  const kc = loadKubeConfig();
  ns = await testNamespace("rt-reconcile", kc);
  client = new KubeClient({ kubeConfig: kc });
  await installWidgetCrd(client);
  manager = new Manager({
    kubeConfig: kc,
    namespaces: [ns.name],
    metricsBindAddress: "127.0.0.1:0",
    healthProbeBindAddress: "127.0.0.1:0",
    log: createLogger({ level: "debug", write: (line) => logLines.push(line) }),
  });
  manager.add(
    widgetController({
      onReconcile: (key) => reconciles.set(key, (reconciles.get(key) ?? 0) + 1),
    }),
  );
  await manager.start();
  await manager.waitForCacheSync();
});

afterAll(async () => {
  await manager?.stop();
  await client?.close();
  await ns?.[Symbol.asyncDispose]();
});

let finalizerAttempts = 0;

describe("reconcile loop on a real API server", () => {
  it("creates the owned child, reports Ready with observedGeneration, then records an event", async () => {
    await client.create(widgets, widget("alpha", { message: "hello" }));
    const w = await readyWidget("alpha");
    const cm = await client.get(builtin.configMaps, configMapName("alpha"), ns.name);
    expect(cm.data).toEqual({ message: "hello" });
    expect(cm.metadata.ownerReferences).toEqual([
      {
        apiVersion: widgets.apiVersion,
        kind: "Widget",
        name: "alpha",
        uid: w.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    // Both writes are server-side applies by the controller's field manager.
    const managers = (cm.metadata.managedFields as Array<{ manager: string; operation: string }>).map(
      (f) => `${f.manager}:${f.operation}`,
    );
    expect(managers).toContain("sovereign-stack/widget:Apply");
    const event = await eventually(async () => {
      const list = await client.list(builtin.events, { namespace: ns.name });
      return list.items.find((e) => (e.regarding as { uid?: string }).uid === w.metadata.uid);
    });
    expect(event).toMatchObject({
      reason: "Configured",
      type: "Normal",
      action: "Apply",
      reportingController: "sovereign.dev/widget",
    });
    // The event was sent only after the status write that it reports.
    const statusWrittenAt = Date.parse(w.status?.conditions?.[0]?.lastTransitionTime ?? "");
    expect(Date.parse(event.eventTime as string)).toBeGreaterThanOrEqual(statusWrittenAt);
    // Every reconcile logged with a reconcile id.
    const lines = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.key === `${ns.name}/alpha`);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => typeof l.reconcileID === "string" && l.controller === "widget")).toBe(true);
  });

  it("a repeated reconcile on unchanged input makes no write", async () => {
    await client.create(widgets, widget("steady", { message: "same" }));
    await readyWidget("steady");
    const key = `${ns.name}/steady`;
    const controller = manager.controllers[0];
    if (!controller) throw new Error("no controller");
    // Let the reconciles triggered by our own writes settle.
    await eventually(async () =>
      controller.queue.length === 0 && controller.queue.inProgress === 0 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const before = {
      widget: (await client.get(widgets, "steady", ns.name)).metadata.resourceVersion,
      configMap: (await client.get(builtin.configMaps, configMapName("steady"), ns.name)).metadata
        .resourceVersion,
      writes: countWrites(await metricsText()),
      reconciles: reconciles.get(key) ?? 0,
    };
    // Reconcile the same key again and again, and relist everything for good measure.
    for (let i = 0; i < 10; i++) {
      controller.queue.add(key);
      await new Promise((r) => setTimeout(r, 50));
    }
    manager.informer(widgets).relist();
    manager.informer(builtin.configMaps).relist();
    await eventually(async () => ((reconciles.get(key) ?? 0) >= before.reconciles + 10 ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    const after = {
      widget: (await client.get(widgets, "steady", ns.name)).metadata.resourceVersion,
      configMap: (await client.get(builtin.configMaps, configMapName("steady"), ns.name)).metadata
        .resourceVersion,
      writes: countWrites(await metricsText()),
    };
    expect(after.widget).toBe(before.widget);
    expect(after.configMap).toBe(before.configMap);
    // Not even a no-op request: the cached child and status already matched.
    expect(after.writes).toBe(before.writes);
    expect(reconciles.get(key)).toBeGreaterThanOrEqual(before.reconciles + 10);
  });

  it("a spec change rewrites the child and observedGeneration but not lastTransitionTime", async () => {
    await client.create(widgets, widget("changing", { message: "v1" }));
    const first = await readyWidget("changing");
    const firstTransition = first.status?.conditions?.[0]?.lastTransitionTime;
    await new Promise((r) => setTimeout(r, 1100)); // a new second, so a moved timestamp would show
    await client.patch(widgets, "changing", ns.name, { spec: { message: "v2" } }, "merge");
    const second = await readyWidget("changing", 2);
    const cm = await client.get(builtin.configMaps, configMapName("changing"), ns.name);
    expect(cm.data).toEqual({ message: "v2" });
    expect(second.status?.conditions?.[0]?.lastTransitionTime).toBe(firstTransition);
    expect(second.status?.conditions?.[0]?.observedGeneration).toBe(2);
  });

  it("recreates a child that someone deleted (owned-kind watch maps it to its owner)", async () => {
    await client.create(widgets, widget("healing", { message: "x" }));
    await readyWidget("healing");
    const old = await client.get(builtin.configMaps, configMapName("healing"), ns.name);
    await client.delete(builtin.configMaps, configMapName("healing"), ns.name);
    const recreated = await eventually(async () => {
      const cm = await client.getOrUndefined(builtin.configMaps, configMapName("healing"), ns.name);
      return cm && cm.metadata.uid !== old.metadata.uid ? cm : undefined;
    });
    expect(recreated.data).toEqual({ message: "x" });
  });

  it("requeueAfter reconciles again on a timer without any event", async () => {
    await client.create(widgets, widget("timer", { message: "t", requeueAfterMs: 300 }));
    await readyWidget("timer");
    const key = `${ns.name}/timer`;
    const start = reconciles.get(key) ?? 0;
    await new Promise((r) => setTimeout(r, 2000));
    expect((reconciles.get(key) ?? 0) - start).toBeGreaterThanOrEqual(4);
    expect(
      sumSeries(await metricsText(), "controller_runtime_reconcile_total", { result: "requeue_after" }),
    ).toBeGreaterThan(0);
  });

  it("a failing reconcile is retried with backoff and counted, then recovers", async () => {
    const before = await metricsText();
    await client.create(widgets, widget("broken", { message: "b", fail: true }));
    const key = `${ns.name}/broken`;
    await eventually(async () => ((reconciles.get(key) ?? 0) >= 6 ? true : undefined));
    const after = await metricsText();
    const errors = (t: string) =>
      sumSeries(t, "controller_runtime_reconcile_errors_total", { controller: "widget" });
    const retries = (t: string) => sumSeries(t, "workqueue_retries_total", { name: "widget" });
    expect(errors(after) - errors(before)).toBeGreaterThanOrEqual(6);
    expect(retries(after) - retries(before)).toBeGreaterThanOrEqual(6);
    // Backoff doubles from 5 ms: after ~1.5 s there are about ten attempts, not hundreds.
    await new Promise((r) => setTimeout(r, 1500));
    expect(reconciles.get(key)).toBeLessThan(16);
    await client.patch(widgets, "broken", ns.name, { spec: { fail: false } }, "merge");
    await readyWidget("broken", 2);
  });

  it("a reconcile that fails after its status write still sends the events that status reports", async () => {
    await client.create(widgets, widget("late-failure", { message: "l", failAfterStatus: true }));
    const key = `${ns.name}/late-failure`;
    const w = await readyWidget("late-failure");
    const event = await eventually(async () => {
      const list = await client.list(builtin.events, { namespace: ns.name });
      return list.items.find((e) => (e.regarding as { uid?: string }).uid === w.metadata.uid);
    });
    expect(event).toMatchObject({ reason: "Configured", type: "Normal" });
    // Nothing changes after the first write, yet it is reconciled again and again: every
    // reconcile failed, so the event came from one that did not succeed.
    await eventually(async () => ((reconciles.get(key) ?? 0) >= 3 ? true : undefined));
    await client.patch(widgets, "late-failure", ns.name, { spec: { failAfterStatus: false } }, "merge");
  });

  it("/metrics serves controller-runtime's series and its counters move", async () => {
    const before = await metricsText();
    for (const name of [
      "controller_runtime_reconcile_total",
      "controller_runtime_reconcile_errors_total",
      "controller_runtime_reconcile_time_seconds_bucket",
      "workqueue_depth",
      "workqueue_adds_total",
      "workqueue_retries_total",
      "workqueue_queue_duration_seconds_bucket",
      "workqueue_work_duration_seconds_bucket",
      "rest_client_requests_total",
    ]) {
      expect(before).toContain(name);
    }
    await client.create(widgets, widget("counted", { message: "c" }));
    await readyWidget("counted");
    const after = await metricsText();
    const success = (t: string) => sumSeries(t, "controller_runtime_reconcile_total", { result: "success" });
    const adds = (t: string) => sumSeries(t, "workqueue_adds_total", { name: "widget" });
    const timeCount = (t: string) => sumSeries(t, "controller_runtime_reconcile_time_seconds_count");
    expect(success(after)).toBeGreaterThan(success(before));
    expect(adds(after)).toBeGreaterThan(adds(before));
    expect(timeCount(after)).toBeGreaterThan(timeCount(before));
    const probes = `http://${manager.probeAddress}`;
    expect((await fetch(`${probes}/healthz`)).status).toBe(200);
    expect((await fetch(`${probes}/readyz`)).status).toBe(200);
  });

  it("finalizer helpers add and remove a finalizer without clobbering others", async () => {
    // Objects of their own per attempt, so that a retry does not find the first one's.
    const final = `final-${++finalizerAttempts}`;
    const finalBare = `final-bare-${finalizerAttempts}`;
    const created = await client.create<Widget>(widgets, {
      ...widget(final, { message: "f" }),
      metadata: { name: final, namespace: ns.name, finalizers: ["example.com/other"] },
    });
    const withOurs = await addFinalizer(client, widgets, created, "sovereign.dev/cleanup");
    expect(withOurs.metadata.finalizers).toEqual(["example.com/other", "sovereign.dev/cleanup"]);
    await client.delete(widgets, final, ns.name);
    const deleting = await client.get(widgets, final, ns.name);
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    const without = await removeFinalizer(client, widgets, deleting, "sovereign.dev/cleanup");
    expect(without.metadata.finalizers).toEqual(["example.com/other"]);
    await removeFinalizer(client, widgets, without, "example.com/other");
    await eventually(async () => ((await client.getOrUndefined(widgets, final, ns.name)) ? undefined : true));
    // A finalizer on an object without any: the resourceVersion guard lets it through on the
    // version read. This file's controller writes the widget's status meanwhile, so it is read
    // again and tried again until it goes, as a reconcile would.
    const bare = await client.create<Widget>(widgets, widget(finalBare));
    const guarded = await eventually(async () =>
      addFinalizer(
        client,
        widgets,
        await client.get<Widget>(widgets, finalBare, ns.name),
        "sovereign.dev/cleanup",
      ).catch(() => undefined),
    );
    expect(guarded.metadata.finalizers).toEqual(["sovereign.dev/cleanup"]);
    // A stale copy is read again: the add goes on top of what is there, clobbering nothing.
    const second = await addFinalizer(client, widgets, { ...bare }, "sovereign.dev/second");
    expect(second.metadata.finalizers).toEqual(["sovereign.dev/cleanup", "sovereign.dev/second"]);
    await removeFinalizer(client, widgets, second, "sovereign.dev/second");
    await removeFinalizer(
      client,
      widgets,
      await client.get<Widget>(widgets, finalBare, ns.name),
      "sovereign.dev/cleanup",
    );
  });

  it("aggregates repeated events into one Event with a series count", async () => {
    const created = await client.create<KubeObject>(widgets, widget("noisy"));
    const recorder = new EventRecorder({
      client,
      reportingController: "sovereign.dev/runtime-test",
      reportingInstance: "test",
      aggregator: { seriesFlushMs: 500 },
    });
    for (let i = 0; i < 5; i++)
      recorder.record(created, { type: "Warning", reason: "Waiting", action: "Admit", note: "full" });
    await recorder.flush();
    // Past the series flush interval, so the count is written whatever the machine's load.
    await new Promise((r) => setTimeout(r, 700));
    await recorder.stop();
    const events = await eventually(
      async () => {
        const found = (await client.list(builtin.events, { namespace: ns.name })).items.filter(
          (e) => (e.regarding as { uid?: string }).uid === created.metadata.uid && e.reason === "Waiting",
        );
        return found[0]?.series ? found : undefined;
      },
      10_000,
      "the event series",
    );
    expect(events).toHaveLength(1);
    expect(events[0]?.series).toMatchObject({ count: 5 });
  });
});

/** Requests that change something (or could): everything but GET, counted by the client. */
function countWrites(text: string): number {
  return ["POST", "PUT", "PATCH", "DELETE"].reduce(
    (n, method) => n + sumSeries(text, "rest_client_requests_total", { method }),
    0,
  );
}
