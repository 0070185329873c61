import { describe, expect, test } from "vitest";
import {
  deviceParams,
  headPorts,
  headStartArgs,
  workerStartArgs,
} from "../../controllers/raycluster/ray-start.ts";

describe("head ray start", () => {
  test.each([
    {
      name: "defaults, no resources",
      head: {},
      args: [
        "--head",
        "--port=6379",
        "--dashboard-host=0.0.0.0",
        "--dashboard-port=8265",
        "--ray-client-server-port=10001",
        "--metrics-export-port=8080",
        "--block",
      ],
    },
    {
      name: "CPU and memory from the container; user params override and extend, sorted",
      head: {
        resources: { cpu: "4", memory: "16Gi" },
        rayStartParams: { "num-cpus": "0", "object-store-memory": "100", "disable-usage-stats": "" },
      },
      args: [
        "--head",
        "--port=6379",
        "--dashboard-host=0.0.0.0",
        "--dashboard-port=8265",
        "--ray-client-server-port=10001",
        "--metrics-export-port=8080",
        "--num-cpus=0",
        `--memory=${16 * 2 ** 30}`,
        "--disable-usage-stats",
        "--object-store-memory=100",
        "--block",
      ],
    },
    {
      name: "fractional CPU rounds up; moved ports",
      head: { resources: { cpu: "1500m" }, rayStartParams: { port: "6380", "dashboard-port": "9000" } },
      args: [
        "--head",
        "--port=6380",
        "--dashboard-host=0.0.0.0",
        "--dashboard-port=9000",
        "--ray-client-server-port=10001",
        "--metrics-export-port=8080",
        "--num-cpus=2",
        "--block",
      ],
    },
  ])("$name", ({ head, args }) => {
    expect(headStartArgs(head as Parameters<typeof headStartArgs>[0])).toEqual(args);
  });

  test("ports follow the head's params, and fall back on nonsense", () => {
    expect(headPorts(undefined)).toEqual({ gcs: 6379, dashboard: 8265, client: 10001, metrics: 8080 });
    expect(
      headPorts({ port: "7000", "ray-client-server-port": "x", "metrics-export-port": "70000" }),
    ).toEqual({
      gcs: 7000,
      dashboard: 8265,
      client: 10001,
      metrics: 8080,
    });
  });
});

describe("devices declared to Ray per vendor", () => {
  test.each([
    { vendor: "nvidia", devices: 2, user: undefined, out: [["num-gpus", "2"]] },
    { vendor: "amd", devices: 8, user: undefined, out: [["num-gpus", "8"]] },
    { vendor: "google", devices: 4, user: undefined, out: [["resources", '{"TPU":4}']] },
    { vendor: "aws", devices: 2, user: undefined, out: [["resources", '{"neuron_cores":2}']] },
    { vendor: "intel", devices: 8, user: undefined, out: [["resources", '{"HPU":8}']] },
    { vendor: "google", devices: 4, user: '{"spot": 1}', out: [["resources", '{"spot":1,"TPU":4}']] },
    { vendor: "google", devices: 4, user: '{"TPU": 99}', out: [["resources", '{"TPU":4}']] },
    { vendor: "google", devices: 4, user: "not json", out: [] },
    { vendor: "google", devices: 4, user: "[1]", out: [] },
    { vendor: "nvidia", devices: 0, user: undefined, out: [] },
    { vendor: undefined, devices: 1, user: undefined, out: [] },
  ] as const)("$vendor x$devices with user resources $user", ({ vendor, devices, user, out }) => {
    expect(deviceParams(devices, vendor, user)).toEqual(out);
  });
});

describe("worker ray start", () => {
  const gcsAddress = "rc-head.ns.svc:6379";
  test("NVIDIA worker: address, CPU, memory, GPUs, metrics, block", () => {
    expect(
      workerStartArgs({
        gcsAddress,
        resources: { cpu: "8", memory: "64Gi" },
        devices: 1,
        vendor: "nvidia",
      }),
    ).toEqual([
      "--address=rc-head.ns.svc:6379",
      "--num-cpus=8",
      `--memory=${64 * 2 ** 30}`,
      "--num-gpus=1",
      "--metrics-export-port=8080",
      "--block",
    ]);
  });

  test("TPU worker merges the user's custom resources and keeps other params", () => {
    expect(
      workerStartArgs({
        gcsAddress,
        resources: { cpu: 24 },
        rayStartParams: { resources: '{"tpu-host": 1}', "object-store-memory": "10000000000" },
        devices: 4,
        vendor: "google",
        metricsPort: 9090,
      }),
    ).toEqual([
      "--address=rc-head.ns.svc:6379",
      "--num-cpus=24",
      '--resources={"tpu-host":1,"TPU":4}',
      "--metrics-export-port=9090",
      "--object-store-memory=10000000000",
      "--block",
    ]);
  });

  test("CPU-only worker declares no devices; user num-cpus wins", () => {
    expect(
      workerStartArgs({
        gcsAddress,
        resources: { cpu: "2" },
        rayStartParams: { "num-cpus": "1" },
        devices: 0,
        vendor: undefined,
      }),
    ).toEqual(["--address=rc-head.ns.svc:6379", "--num-cpus=1", "--metrics-export-port=8080", "--block"]);
  });
});
