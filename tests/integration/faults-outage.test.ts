// The real operator through a kube-apiserver restart and a 10 s etcd freeze (SIGSTOP), both
// in the middle of a burst that keeps being created through them: no workload is missed (the
// end state is exact, as after a crash), and the watches resume without a relist storm: the
// LISTs the API server served the operator's identity after each fault stay within a bound
// of two per informer (one relist each, and one retry).
// (bench/faults.ts runs 3 restarts and reports the counts.)
import { describe, expect, it } from "vitest";
import {
  apiServerCounts,
  burst,
  createBenchIdentity,
  createBurst,
  type Disruption,
  disrupt,
  informerCount,
  settledVerdict,
  verdictFigures,
} from "./faults-harness.ts";
import { scenarioHooks } from "./faults-hooks.ts";
import { faultCounts } from "./faults-verdict.ts";

const namespace = "faults-outage";

const scenario = scenarioHooks({ name: namespace, nodes: 4, devicesPerNode: 8 });

describe("API server restart and etcd freeze mid-burst", () => {
  it("misses no workload and resumes its watches without a relist storm", async () => {
    const { cluster, observer } = scenario();
    const api = apiServerCounts(cluster.client);
    const identity = await createBenchIdentity(cluster.client, cluster.kubeconfigPath, "outage-operator");
    const operator = await cluster.startOperator(
      "operator",
      ["--kube-api-qps=5", "--kube-api-burst=5"],
      identity.kubeconfigPath,
    );
    await operator.waitForLog((l) => l.msg === "starting workers", 60_000);
    const informers = await informerCount(operator);
    const creating = createBurst(cluster.client, burst(namespace, 16, 6));
    const common = {
      cluster,
      operator,
      recoverMs: 8000,
      metrics: api.metrics,
      lists: (text: string) => api.of(text, identity.name).lists,
    };
    const disruptions: Disruption[] = [];
    disruptions.push(await disrupt({ ...common, what: "apiserver-restart", downMs: 2000 }));
    disruptions.push(await disrupt({ ...common, what: "etcd-pause", downMs: 10_000 }));
    await creating;
    const verdict = await settledVerdict(cluster, observer.history, 120_000);
    console.log(
      `outage: ${informers} informers; ${JSON.stringify(disruptions)}; verdict ${JSON.stringify(verdictFigures(verdict))}`,
    );
    expect(verdict.problems).toEqual([]);
    expect(faultCounts(verdict)).toBe(0);
    expect(verdict.workloads).toBe(22);
    // The restart did break the watches, and what followed was no storm of LISTs.
    expect(disruptions[0]?.watchRestarts).toBeGreaterThan(0);
    for (const d of disruptions) expect(d.serverLists, d.what).toBeLessThanOrEqual(2 * informers);
  });
});
