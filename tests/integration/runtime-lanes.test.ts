// The client's request lanes on a real API server: with a tight budget and one worker, the
// children of every object are created before any of their closing status reports is written.
// Without the report lane the one worker would wait on each status write in turn, and the
// creates and the reports would alternate.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient } from "../../operator/kube-client.ts";
import { createLogger } from "../../operator/log.ts";
import { Manager } from "../../operator/manager.ts";
import { builtin, type KubeObject } from "../../operator/resource.ts";
import { perAttempt } from "../support/attempts.ts";
import { eventually, loadKubeConfig, type TestNamespace, testNamespace } from "../support/cluster.ts";
import {
  configMapName,
  installWidgetCrd,
  type Widget,
  widgetController,
  widgets,
} from "../support/test-controller.ts";

let ns: TestNamespace;
let manager: Manager;
let client: KubeClient;
// Objects of their own per attempt, so that a retry does not find the first attempt's.
const attempt = perAttempt();
// What the manager logs at error level, shown when the widgets do not get Ready.
const errors: string[] = [];

beforeAll(async () => {
  const kc = loadKubeConfig();
  ns = await testNamespace("rt-lanes", kc);
  client = new KubeClient({ kubeConfig: kc });
  await installWidgetCrd(client);
  manager = new Manager({
    kubeConfig: kc,
    namespaces: [ns.name],
    metricsBindAddress: "0",
    healthProbeBindAddress: "0",
    // Two requests a second: the objects below queue up behind each other.
    qps: 2,
    burst: 1,
    log: createLogger({ level: "error", write: (line) => void errors.push(line) }),
  });
  manager.add(widgetController({ workers: 1, reportStatus: true }));
  await manager.start();
  await manager.waitForCacheSync();
});

afterAll(async () => {
  await manager?.stop();
  await client?.close();
  await ns?.[Symbol.asyncDispose]();
});

/** The etcd revision an object was last written at (the API server's resourceVersion). */
const revision = (o: KubeObject): number => Number(o.metadata.resourceVersion);

describe("request lanes", () => {
  it("creates every object's child before the first closing status report", async () => {
    attempt.next();
    const names = ["a", "b", "c", "d"].map(attempt.name);
    await Promise.all(
      names.map((name) =>
        client.create(widgets, {
          apiVersion: widgets.apiVersion,
          kind: widgets.kind,
          metadata: { name, namespace: ns.name },
        }),
      ),
    );
    const ready = await eventually(
      async () => {
        const all = await Promise.all(names.map((n) => client.get<Widget>(widgets, n, ns.name)));
        return all.every((w) => w.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
          ? all
          : undefined;
      },
      60_000,
      "every widget Ready",
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; the manager logged:\n${errors.slice(-20).join("\n")}`);
    });
    const children = await Promise.all(
      names.map((n) => client.get(builtin.configMaps, configMapName(n), ns.name)),
    );
    // Neither kind is written again after these writes: their revisions order the writes.
    const lastChild = Math.max(...children.map(revision));
    const firstReport = Math.min(...ready.map(revision));
    expect(lastChild).toBeLessThan(firstReport);
  }, 90_000);
});
