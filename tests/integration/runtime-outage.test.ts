// Stops and restarts kube-apiserver on a private control plane while Widgets keep being
// created, and checks that every one of them is reconciled once the API server is back, and
// that /healthz reported the broken watches in between; then freezes it (SIGSTOP), so the
// watches stall with their connections open, and checks that /healthz notices that too.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startControlPlane } from "../../cli/dev/control-plane.ts";
import { readSupervisorState } from "../../cli/dev/state.ts";
import { isAlreadyExists, KubeClient } from "../../operator/kube-client.ts";
import { loadClusterConnection } from "../../operator/kubeconfig.ts";
import { createLogger } from "../../operator/log.ts";
import { Manager } from "../../operator/manager.ts";
import { builtin } from "../../operator/resource.ts";
import { eventually } from "../support/cluster.ts";
import {
  configMapName,
  installWidgetCrd,
  type Widget,
  widgetController,
  widgets,
} from "../support/test-controller.ts";
import { sumSeries } from "../support/test-controller-process.ts";

let dir: string;
let cp: ControlPlane;
let client: KubeClient;
let manager: Manager;
const namespace = "outage";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sovereign-rt-outage-"));
  cp = await startControlPlane({ dir });
  // Nothing here schedules pods; the CPU is better spent elsewhere.
  await cp.stopComponent("kwok");
  await cp.stopComponent("kube-scheduler");
  const kc = loadClusterConnection(cp.kubeconfigPath);
  client = new KubeClient({ kubeConfig: kc });
  await installWidgetCrd(client);
  await client.create(builtin.namespaces, { metadata: { name: namespace } });
  manager = new Manager({
    kubeConfig: kc,
    namespaces: [namespace],
    healthProbeBindAddress: "127.0.0.1:0",
    metricsBindAddress: "127.0.0.1:0",
    watchLivenessDeadlineMs: 3000,
    log: createLogger({ level: "warn", write: () => {} }),
  });
  manager.add(widgetController());
  await manager.start();
  await manager.waitForCacheSync();
}, 120_000);

afterAll(async () => {
  await manager?.stop();
  await client?.close();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const healthz = async (): Promise<number> => {
  try {
    return (await fetch(`http://${manager.probeAddress}/healthz`)).status;
  } catch {
    return 0;
  }
};

describe("kube-apiserver outage", () => {
  it("reconciles every object created around and during the outage once the API server returns", async () => {
    const total = 60;
    const attemptedDuringOutage = new Set<string>();
    let apiDown = false;
    let created = 0;
    // Keeps creating widgets, one every 100 ms, retrying each until the API server takes it.
    const creator = (async () => {
      for (let i = 0; i < total; i++) {
        const name = `w-${i}`;
        for (;;) {
          if (apiDown) attemptedDuringOutage.add(name);
          try {
            await client.create(widgets, {
              apiVersion: widgets.apiVersion,
              kind: widgets.kind,
              metadata: { name, namespace },
              spec: { message: `m${i}` },
            });
            break;
          } catch (error) {
            if (isAlreadyExists(error)) break;
            await sleep(200);
          }
        }
        created++;
        await sleep(100);
      }
    })();

    await eventually(async () => (created >= 15 ? true : undefined));
    expect(await healthz()).toBe(200);
    const stoppedAt = performance.now();
    apiDown = true;
    await cp.stopComponent("kube-apiserver");
    const stopDoneAt = performance.now();
    const unhealthy = await eventually(
      async () => ((await healthz()) === 500 ? performance.now() : undefined),
      20_000,
    );
    await sleep(Math.max(0, 8000 - (performance.now() - stoppedAt)));
    await cp.startComponent("kube-apiserver");
    apiDown = false;
    const restartedAt = performance.now();
    await creator;

    const all = await eventually(
      async () => {
        const list = await client.list<Widget>(widgets, { namespace });
        const ready = list.items.filter(
          (w) => w.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
        );
        return ready.length === total ? list.items : undefined;
      },
      90_000,
      `all ${total} widgets reconciled`,
    );
    const reconciledAt = performance.now();
    const configMaps = await client.list(builtin.configMaps, { namespace });
    for (const w of all) {
      const cm = configMaps.items.find((c) => c.metadata.name === configMapName(w.metadata.name as string));
      expect(cm?.data).toEqual({ message: w.spec?.message });
    }
    expect(attemptedDuringOutage.size).toBeGreaterThan(0);
    const healthyAgain = await eventually(
      async () => ((await healthz()) === 200 ? performance.now() : undefined),
      30_000,
    );
    const metrics = await (await fetch(`http://${manager.metricsAddress}/metrics`)).text();
    const restarts = sumSeries(metrics, "informer_watch_restarts_total");
    const relists = sumSeries(metrics, "informer_relists_total");
    console.log(
      `outage: stopping kube-apiserver took ${((stopDoneAt - stoppedAt) / 1000).toFixed(1)} s; /healthz (3 s ` +
        `liveness deadline) failed ${((unhealthy - stopDoneAt) / 1000).toFixed(1)} s after it was down; ` +
        `${attemptedDuringOutage.size} widgets were first attempted during the outage; all ${total} reconciled ` +
        `${((reconciledAt - restartedAt) / 1000).toFixed(1)} s after restart; /healthz ok again after ` +
        `${((healthyAgain - restartedAt) / 1000).toFixed(1)} s; watch restarts ${restarts}, relists ${relists}`,
    );
    expect(restarts).toBeGreaterThan(0);
  });

  it("turns /healthz unhealthy when the API server hangs with the watches open, and healthy when it answers", async () => {
    // Its own manager, with a short idle timeout so that the test takes seconds, not minutes.
    const probe = new Manager({
      kubeConfig: loadClusterConnection(cp.kubeconfigPath),
      namespaces: [namespace],
      healthProbeBindAddress: "127.0.0.1:0",
      metricsBindAddress: "127.0.0.1:0",
      // A watch closed by the idle timeout reconnects after 0.8-1.6 s: the deadline is above that.
      watchLivenessDeadlineMs: 3000,
      watchIdleTimeoutMs: 2000,
      log: createLogger({ level: "warn", write: () => {} }),
    });
    probe.informer(widgets);
    await probe.start();
    const status = async (): Promise<number> => {
      try {
        return (await fetch(`http://${probe.probeAddress}/healthz`)).status;
      } catch {
        return 0;
      }
    };
    const apiserver = readSupervisorState(dir)?.components["kube-apiserver"];
    expect(apiserver).toBeGreaterThan(0);
    try {
      await probe.waitForCacheSync();
      // Nothing changes in the namespace now: a quiet watch is a healthy one.
      await sleep(3000);
      expect(await status()).toBe(200);
      process.kill(apiserver as number, "SIGSTOP");
      const frozenAt = performance.now();
      const failedAfter = await eventually(
        async () => ((await status()) === 500 ? performance.now() - frozenAt : undefined),
        20_000,
        "/healthz to fail while the API server is frozen",
      );
      process.kill(apiserver as number, "SIGCONT");
      const thawedAt = performance.now();
      const okAfter = await eventually(
        async () => ((await status()) === 200 ? performance.now() - thawedAt : undefined),
        30_000,
        "/healthz to recover once the API server answers",
      );
      console.log(
        `hang: /healthz (2 s idle timeout + 3 s deadline) failed ${(failedAfter / 1000).toFixed(1)} s after ` +
          `SIGSTOP and was ok ${(okAfter / 1000).toFixed(1)} s after SIGCONT`,
      );
    } finally {
      process.kill(apiserver as number, "SIGCONT");
      await probe.stop();
    }
  });
});
