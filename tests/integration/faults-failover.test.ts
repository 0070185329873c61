// Two replicas of the real operator with leader election; the leader is SIGKILLed twice in a
// burst and a new replica joins each time. Each replica has an identity of its own, so the
// API server counts every replica's writes apart: at no moment do two replicas write. After
// the last takeover, the end state is exactly the expected one, as after a crash.
// (bench/faults.ts runs 5 takeovers and reports their times.)
import { describe, expect, it } from "vitest";
import {
  burst,
  createBurst,
  failoverLoop,
  replicaIdentities,
  settledVerdict,
  verdictFigures,
} from "./faults-harness.ts";
import { scenarioHooks } from "./faults-hooks.ts";
import { faultCounts } from "./faults-verdict.ts";

const namespace = "faults-failover";
const leaseName = "faults-failover-operator";
const args = [
  "--leader-elect",
  `--leader-election-namespace=${namespace}`,
  `--leader-election-id=${leaseName}`,
  "--kube-api-qps=5",
  "--kube-api-burst=5",
  "--workers=4",
];

const scenario = scenarioHooks({ name: namespace, nodes: 4, devicesPerNode: 8 });

describe("leader failover mid-burst", () => {
  it("hands over after each SIGKILL of the leader, never with two writers, and ends exact", async () => {
    const { cluster, observer } = scenario();
    const kills = 2;
    const { identities, sampler } = await replicaIdentities(cluster, kills + 2);
    const creating = createBurst(cluster.client, burst(namespace, 16, 6));
    const takeoverMs = await failoverLoop({
      cluster,
      observer,
      identities,
      kills,
      args,
      leaseName,
      momentTimeoutMs: 15_000,
    });
    await creating;
    const verdict = await settledVerdict(cluster, observer.history, 120_000);
    await sampler.stop();
    console.log(
      `failover: takeovers ${JSON.stringify(takeoverMs)} ms; writes by replica ${JSON.stringify(sampler.writesBy)}, ` +
        `${sampler.overlappingWriteIntervals} of ${sampler.intervals} intervals with two writers; verdict ${JSON.stringify(verdictFigures(verdict))}`,
    );
    expect(takeoverMs).toHaveLength(kills);
    expect(sampler.intervals).toBeGreaterThan(0);
    expect(sampler.overlappingWriteIntervals).toBe(0);
    // More than one replica did write: the leadership really moved.
    expect(Object.values(sampler.writesBy).filter((n) => n > 0).length).toBeGreaterThan(1);
    expect(verdict.problems).toEqual([]);
    expect(faultCounts(verdict)).toBe(0);
    // Its own waits add up past the default: two takeovers (a 15 s lease each, plus the moment
    // to kill at) and up to 120 s for the workloads to settle.
  }, 300_000);
});
