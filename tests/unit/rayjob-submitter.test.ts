// The submitter Job of a RayJob in K8sJob mode: what it runs and where, and how the operator
// reads its outcome. That it submits for real is tests/real/rayjob-k8sjob.test.ts.
import { describe, expect, it } from "vitest";
import { submitterJobName } from "../../controllers/rayjob/names.ts";
import {
  submitterComplete,
  submitterContainerName,
  submitterFailure,
  submitterJob,
} from "../../controllers/rayjob/submitter.ts";
import { labels, type RayCluster, type RayJob, rayJobSpec } from "../../crds/index.ts";
import type { KubeObject } from "../../operator/index.ts";

const job = (spec: Record<string, unknown>): RayJob & KubeObject =>
  ({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "RayJob",
    metadata: { name: "train", namespace: "team-a", uid: "1234-5678" },
    spec: rayJobSpec.parse({ clusterSelector: { app: "ray" }, submissionMode: "K8sJob", ...spec }),
  }) as RayJob & KubeObject;
const cluster = {
  metadata: { name: "shared" },
  spec: { image: "rayproject/ray:2.60.0" },
} as unknown as RayCluster & KubeObject;

type Container = {
  name: string;
  image: string;
  command: string[];
  env: Array<{ name: string; value: string }>;
};
const containerOf = (obj: KubeObject): Container =>
  (obj.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0] as Container;
const envOf = (obj: KubeObject) => Object.fromEntries(containerOf(obj).env.map((e) => [e.name, e.value]));

describe("submitterJob", () => {
  it("runs `ray job submit` of the attempt's id against the head Service, owned by the RayJob", () => {
    const obj = submitterJob({
      job: job({ entrypoint: `python -c "print('hi there')"` }),
      cluster,
      attempt: 2,
      submissionId: "train-1234-567-2",
      dashboard: "http://shared-head.team-a.svc:8265",
    });
    expect(obj.metadata).toMatchObject({
      name: "train-submit-2",
      namespace: "team-a",
      ownerReferences: [expect.objectContaining({ kind: "RayJob", name: "train", controller: true })],
    });
    const template = (obj.spec as { template: { metadata: { labels: Record<string, string> } } }).template;
    // The pod carries the operator's kind label: the dev pod runner runs only such pods.
    expect(template.metadata.labels).toMatchObject({ [labels.kind]: "rayjob", [labels.name]: "train" });
    const c = containerOf(obj);
    expect(c.name).toBe(submitterContainerName);
    expect(c.image).toBe("rayproject/ray:2.60.0");
    expect(c.command.slice(0, 2)).toEqual(["bash", "-c"]);
    expect(c.command[2]).toContain('-- sh -c "$RAY_JOB_ENTRYPOINT"');
    // The entrypoint as given, quotes and all: the head's shell reads it, not the submitter's.
    expect(envOf(obj)).toEqual({
      RAY_DASHBOARD_ADDRESS: "http://shared-head.team-a.svc:8265",
      RAY_JOB_SUBMISSION_ID: "train-1234-567-2",
      RAY_JOB_ENTRYPOINT: `python -c "print('hi there')"`,
    });
  });

  it("passes runtimeEnv and metadata as JSON only when the spec has them", () => {
    const obj = submitterJob({
      job: job({ entrypoint: "python x.py", runtimeEnv: { env_vars: { A: "1" } }, metadata: { team: "a" } }),
      cluster,
      attempt: 1,
      submissionId: "id",
      dashboard: "http://h:8265",
    });
    expect(envOf(obj)).toMatchObject({
      RAY_JOB_RUNTIME_ENV_JSON: '{"env_vars":{"A":"1"}}',
      RAY_JOB_METADATA_JSON: '{"team":"a"}',
    });
  });

  it("keeps the Job's name a DNS label however long the RayJob's name", () => {
    const long = { metadata: { name: "x".repeat(63) } } as KubeObject;
    expect(submitterJobName(long, 100).length).toBeLessThanOrEqual(63);
  });
});

describe("the submitter's outcome", () => {
  const withConditions = (conditions: unknown[]): KubeObject =>
    ({ metadata: { name: "train-submit-1" }, status: { conditions } }) as KubeObject;

  it("names a Job that gave up, with the reason Kubernetes gives", () => {
    const failed = withConditions([
      {
        type: "Failed",
        status: "True",
        reason: "BackoffLimitExceeded",
        message: "Job has reached the specified backoff limit",
      },
    ]);
    expect(submitterFailure(failed)).toBe(
      "submitter Job train-submit-1 failed: BackoffLimitExceeded: Job has reached the specified backoff limit",
    );
    expect(submitterComplete(failed)).toBe(false);
  });

  it("says nothing of a Job still running or gone, and sees one that completed", () => {
    expect(submitterFailure(withConditions([]))).toBeUndefined();
    expect(submitterFailure(undefined)).toBeUndefined();
    expect(submitterComplete(undefined)).toBe(false);
    expect(submitterComplete(withConditions([{ type: "Complete", status: "True" }]))).toBe(true);
  });
});
