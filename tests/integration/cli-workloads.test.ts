// train submit, serve and ray create against the real API server: --dry-run manifests the API
// server accepts, server-side apply (created / unchanged / configured), and --wait following a
// status the test writes the way the operator will: to ready, to failure, and into a timeout.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { inferenceServiceResource, rayClusterResource, trainingJobResource } from "../../crds/index.ts";
import { kubectl, type TestNamespace, testNamespace } from "../support/cluster.ts";
import {
  condition,
  readObject,
  stackctl,
  startStackctl,
  untilOutput,
  whenCreated,
  writeStatus,
} from "./cli-harness.ts";

let ns: TestNamespace;

beforeAll(async () => {
  ns = await testNamespace("cli-workloads");
});

afterAll(async () => {
  await ns?.[Symbol.asyncDispose]();
});

const trainArgs = (name: string, ...extra: string[]) => [
  "-n",
  ns.name,
  "train",
  "submit",
  "--name",
  name,
  "--image",
  "ghcr.io/acme/train:1.0",
  "--nodes",
  "2",
  "--accelerators",
  "8",
  "--min-memory",
  "80",
  ...extra,
  "--",
  "python",
  "train.py",
];

describe("--dry-run", () => {
  test.for([
    [
      "train",
      (flag: string) =>
        trainArgs("dry", flag, "--vendor", "nvidia,amd", "--image-for", "amd=ghcr.io/acme/train:1.0-rocm"),
    ],
    [
      "serve",
      (flag: string) => [
        "-n",
        ns.name,
        "serve",
        "hf://meta-llama/Llama-3.1-8B-Instruct",
        "--replicas",
        "2",
        "--accelerators",
        "1",
        "--min-memory",
        "24",
        flag,
      ],
    ],
    [
      "ray",
      (flag: string) => [
        "-n",
        ns.name,
        "ray",
        "create",
        "dry",
        "--workers",
        "gpu=2:1",
        "--workers",
        "tpu=1:4",
        "--vendor",
        "nvidia,google",
        flag,
      ],
    ],
  ] as const)("%s: the printed manifest is what the API server accepts", async ([, args]) => {
    const dry = await stackctl(args("--dry-run"));
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`namespace: ${ns.name}`);
    expect((await stackctl(["validate", "-f", "-"], { input: dry.stdout })).code).toBe(0);
    const server = await kubectl(["create", "--dry-run=server", "-f", "-"], { input: dry.stdout });
    expect(server.code, server.stderr).toBe(0);
  });

  test("nothing is created", async () => {
    const result = await stackctl(["get", "tj", "dry", "-n", ns.name]);
    expect(result.code).toBe(5);
  });
});

test("server-side apply as stackctl: created, unchanged, configured", async () => {
  expect((await stackctl(trainArgs("apply"))).stdout).toBe("trainingjob.stack.sovereign.dev/apply created\n");
  expect((await stackctl(trainArgs("apply"))).stdout).toBe(
    "trainingjob.stack.sovereign.dev/apply unchanged\n",
  );
  expect((await stackctl(trainArgs("apply", "--priority", "5"))).stdout).toBe(
    "trainingjob.stack.sovereign.dev/apply configured\n",
  );
  const object = await readObject(trainingJobResource, "apply", ns.name);
  expect((object.metadata.managedFields as { manager: string }[]).map((f) => f.manager)).toContain(
    "stackctl",
  );
  expect(object.spec).toMatchObject({ priority: 5, nodes: 2 });
});

describe("--wait", () => {
  test("train submit: one line per change until Running, exit 0", async () => {
    const cli = startStackctl(trainArgs("waits", "--wait", "--timeout", "60s"));
    await whenCreated(trainingJobResource, "waits", ns.name);
    await untilOutput(() => cli.result.stdout, "Submitted");
    await writeStatus(trainingJobResource, "waits", ns.name, {
      observedGeneration: 1,
      phase: "Queued",
      queuePosition: 1,
      conditions: [
        condition("Admitted", "False", "InsufficientCapacity", "needs 2 nodes with 8 free devices"),
      ],
    });
    await untilOutput(() => cli.result.stdout, "Queued");
    await writeStatus(trainingJobResource, "waits", ns.name, {
      phase: "Admitted",
      pool: "h100",
      nodes: 2,
      readyNodes: 0,
      queuePosition: null,
      conditions: [condition("Admitted", "True", "Admitted", "admitted onto h100")],
    });
    await untilOutput(() => cli.result.stdout, "Admitted");
    await writeStatus(trainingJobResource, "waits", ns.name, { phase: "Running", readyNodes: 2 });
    const { code, stdout, stderr } = await cli.done;
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout.split("\n")).toEqual([
      "trainingjob.stack.sovereign.dev/waits created",
      "trainingjob/waits Submitted: waiting for the operator to pick it up",
      "trainingjob/waits Queued: queue position 1; needs 2 nodes with 8 free devices",
      "trainingjob/waits Admitted: pool h100; 0/2 nodes ready",
      "trainingjob/waits Running: pool h100; 2/2 nodes ready",
      "",
    ]);
  });

  test("train submit: a failed job exits 8 with one line saying why", async () => {
    const cli = startStackctl(trainArgs("fails", "--wait", "--timeout", "60s"));
    await whenCreated(trainingJobResource, "fails", ns.name);
    await writeStatus(trainingJobResource, "fails", ns.name, {
      observedGeneration: 1,
      phase: "Failed",
      restarts: 3,
      conditions: [condition("Failed", "True", "BackoffLimitExceeded", "rank 1 exited with code 1")],
    });
    const { code, stdout, stderr } = await cli.done;
    expect(code).toBe(8);
    expect(stdout).toContain("trainingjob/fails Failed: 3 restarts; rank 1 exited with code 1\n");
    expect(stderr).toBe("error: trainingjob/fails failed: 3 restarts; rank 1 exited with code 1\n");
  });

  test("serve: Loading to Ready", async () => {
    const cli = startStackctl([
      "-n",
      ns.name,
      "serve",
      "hf://org/model",
      "--name",
      "svc",
      "--replicas",
      "2",
      "--accelerators",
      "1",
      "--wait",
    ]);
    await whenCreated(inferenceServiceResource, "svc", ns.name);
    await writeStatus(inferenceServiceResource, "svc", ns.name, {
      observedGeneration: 1,
      phase: "Loading",
      replicas: 2,
      readyReplicas: 0,
      placements: [
        { pool: "h100", replicas: 1 },
        { pool: "mi300x", replicas: 1 },
      ],
    });
    await untilOutput(() => cli.result.stdout, "Loading");
    await writeStatus(inferenceServiceResource, "svc", ns.name, {
      phase: "Ready",
      readyReplicas: 2,
      url: `http://svc.${ns.name}.svc:8000/v1`,
    });
    const { code, stdout } = await cli.done;
    expect(code).toBe(0);
    expect(stdout).toContain(
      `inferenceservice/svc Ready: 2/2 replicas ready; on h100, mi300x; http://svc.${ns.name}.svc:8000/v1\n`,
    );
  });

  test("ray create: Ready", async () => {
    const cli = startStackctl(["-n", ns.name, "ray", "create", "rc", "--workers", "gpu=1:1", "--wait"]);
    await whenCreated(rayClusterResource, "rc", ns.name);
    await writeStatus(rayClusterResource, "rc", ns.name, {
      observedGeneration: 1,
      phase: "Ready",
      readyWorkers: 1,
      desiredWorkers: 1,
      workerGroups: [{ name: "gpu", pool: "h100", replicas: 1, readyReplicas: 1 }],
    });
    const { code, stdout } = await cli.done;
    expect(code).toBe(0);
    expect(stdout).toContain("raycluster/rc Ready: 1/1 workers ready; gpu on h100\n");
  });

  test("nobody sets the status: timed out, exit 9", async () => {
    const result = await stackctl(trainArgs("stuck", "--wait", "--timeout", "2s"));
    expect(result.code).toBe(9);
    expect(result.stderr).toBe(
      "error: timed out after 2s waiting for trainingjob/stuck; last seen Submitted: waiting for the operator to pick it up\n",
    );
  });
});
