// kill -9 of the operator in the middle of a burst of 200 Widgets, changes made while it is
// down, then a restart: the end state must be exactly the desired one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { forEachConcurrently } from "../../cli/dev/loopback.ts";
import { isAlreadyExists, KubeClient } from "../../operator/kube-client.ts";
import { builtin } from "../../operator/resource.ts";
import {
  eventually,
  kubeconfigPath,
  loadKubeConfig,
  type TestNamespace,
  testNamespace,
} from "../support/cluster.ts";
import {
  configMapName,
  installWidgetCrd,
  type Widget,
  widgetLabel,
  widgets,
} from "../support/test-controller.ts";
import { type OperatorProcess, startOperatorProcess } from "../support/test-controller-process.ts";

let ns: TestNamespace;
let client: KubeClient;
const processes: OperatorProcess[] = [];

const start = async (name: string): Promise<OperatorProcess> => {
  const p = await startOperatorProcess(name, [
    `--kubeconfig=${kubeconfigPath()}`,
    `--namespace=${ns.name}`,
    // Slow enough that the kill lands mid-burst.
    "--kube-api-qps=20",
    "--kube-api-burst=20",
  ]);
  processes.push(p);
  return p;
};

beforeAll(async () => {
  const kc = loadKubeConfig();
  ns = await testNamespace("rt-crash", kc);
  client = new KubeClient({ kubeConfig: kc, qps: 0 });
  await installWidgetCrd(client);
});

afterAll(async () => {
  for (const p of processes) p.kill("SIGKILL");
  await Promise.all(processes.map((p) => p.exited));
  await client?.close();
  await ns?.[Symbol.asyncDispose]();
});

describe("kill -9 in the middle of a burst", () => {
  it("converges to exactly the desired state after a restart: no duplicate, no orphan", async () => {
    const first = await start("first");
    await first.waitForLog((l) => l.msg === "starting workers");
    const names = Array.from({ length: 200 }, (_, i) => `burst-${String(i).padStart(3, "0")}`);
    const burst = forEachConcurrently(names, 16, async (name) => {
      try {
        await client.create(widgets, {
          apiVersion: widgets.apiVersion,
          kind: widgets.kind,
          metadata: { name, namespace: ns.name },
          spec: { message: `hello ${name}` },
        });
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
      }
    });
    const countChildren = async () =>
      (await client.list(builtin.configMaps, { namespace: ns.name, query: { labelSelector: widgetLabel } }))
        .items.length;
    const atKill = await eventually(async () => {
      const n = await countChildren();
      return n >= 30 ? n : undefined;
    });
    first.kill("SIGKILL");
    await first.exited;
    await burst;
    // While no operator runs: delete 20 widgets and change 20 others.
    const deleted = names.slice(0, 20);
    const changed = names.slice(20, 40);
    await forEachConcurrently(deleted, 8, async (name) => {
      await client.delete(widgets, name, ns.name);
    });
    await forEachConcurrently(changed, 8, async (name) => {
      await client.patch(widgets, name, ns.name, { spec: { message: `changed ${name}` } }, "merge");
    });
    const childrenWhileDown = await countChildren();

    await start("second");
    const remaining = names.slice(20);
    const end = await eventually(
      async () => {
        const [ws, cms] = await Promise.all([
          client.list<Widget>(widgets, { namespace: ns.name }),
          client.list(builtin.configMaps, { namespace: ns.name, query: { labelSelector: widgetLabel } }),
        ]);
        const settled = ws.items.every(
          (w) =>
            w.status?.observedGeneration === w.metadata.generation &&
            w.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        );
        // Orphans of the deleted widgets go through the garbage collector; wait for it too.
        return settled && ws.items.length === remaining.length && cms.items.length === remaining.length
          ? { widgets: ws.items, configMaps: cms.items }
          : undefined;
      },
      120_000,
      "the desired end state",
    );
    const byUid = new Map(end.widgets.map((w) => [w.metadata.uid, w]));
    const childrenPerWidget = new Map<string, number>();
    for (const cm of end.configMaps) {
      const owners = cm.metadata.ownerReferences ?? [];
      expect(owners).toHaveLength(1);
      const owner = byUid.get(owners[0]?.uid ?? "");
      expect(owner, `owner of ${cm.metadata.name}`).toBeDefined(); // no orphan
      expect(cm.metadata.name).toBe(configMapName(owner?.metadata.name as string));
      expect(cm.data).toEqual({ message: owner?.spec?.message });
      const key = owner?.metadata.name as string;
      childrenPerWidget.set(key, (childrenPerWidget.get(key) ?? 0) + 1);
    }
    expect([...childrenPerWidget.values()].every((n) => n === 1)).toBe(true); // no duplicate
    expect([...childrenPerWidget.keys()].sort()).toEqual(remaining);
    for (const name of changed) {
      expect(end.configMaps.find((c) => c.metadata.name === configMapName(name))?.data).toEqual({
        message: `changed ${name}`,
      });
    }
    console.log(
      `crash: killed with ${atKill} of 200 children written (${childrenWhileDown} existed while down, ` +
        `20 owners deleted, 20 changed); after restart ${end.configMaps.length} children, each matching its owner`,
    );
  });
});
