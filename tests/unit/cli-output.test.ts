// stackctl's output helpers: kubectl's ages and column alignment, printer columns, bars.
import { describe, expect, test } from "vitest";
import type { StackObject } from "../../cli/kube/objects.ts";
import { humanDuration, parseDuration } from "../../cli/output/age.ts";
import { usageBar } from "../../cli/output/capacity.ts";
import { render, tableRows, valueAt } from "../../cli/output/printer.ts";
import { formatTable } from "../../cli/output/table.ts";
import { trainingJobResource } from "../../crds/index.ts";

const s = 1000;
const m = 60 * s;
const h = 60 * m;
const d = 24 * h;

describe("humanDuration writes ages as kubectl does", () => {
  test.for([
    [-5 * s, "<invalid>"],
    [-500, "0s"],
    [0, "0s"],
    [59 * s, "59s"],
    [119 * s, "119s"],
    [2 * m, "2m"],
    [4 * m + 30 * s, "4m30s"],
    [10 * m + 30 * s, "10m"],
    [179 * m, "179m"],
    [3 * h, "3h"],
    [5 * h + 20 * m, "5h20m"],
    [47 * h, "47h"],
    [2 * d, "2d"],
    [3 * d + 4 * h, "3d4h"],
    [30 * d, "30d"],
    [800 * d, "2y70d"],
    [9 * 365 * d, "9y"],
  ] as const)("%i ms -> %s", ([ms, text]) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

test("parseDuration reads seconds, units and combinations", () => {
  expect(parseDuration("90")).toBe(90 * s);
  expect(parseDuration("90s")).toBe(90 * s);
  expect(parseDuration("1h30m")).toBe(h + 30 * m);
  expect(parseDuration("250ms")).toBe(250);
  expect(parseDuration("1.5m")).toBe(90 * s);
  expect(parseDuration("")).toBeUndefined();
  expect(parseDuration("ten minutes")).toBeUndefined();
  expect(parseDuration("5d")).toBeUndefined();
});

test("formatTable pads like kubectl's tabwriter: width + 3, at least 6, last column bare", () => {
  expect(
    formatTable([
      ["NAME", "A", "AGE"],
      ["llama-finetune", "", "5s"],
      ["x", "Running", "10m"],
    ]),
  ).toBe(
    [
      "NAME             A         AGE",
      "llama-finetune             5s",
      "x                Running   10m",
      "",
    ].join("\n"),
  );
});

test("valueAt follows printer-column JSONPaths", () => {
  const o = { status: { phase: "Running", items: [{ name: "a" }] } };
  expect(valueAt(o, ".status.phase")).toBe("Running");
  expect(valueAt(o, ".status.items[0].name")).toBe("a");
  expect(valueAt(o, ".status.missing.deeper")).toBeUndefined();
  expect(valueAt(o, ".spec")).toBeUndefined();
});

test("usageBar shows the allocated share", () => {
  expect(usageBar(24, 32)).toBe("[###############.....]  75%");
  expect(usageBar(0, 16)).toBe("[....................]   0%");
  expect(usageBar(16, 16)).toBe("[####################] 100%");
  expect(usageBar(0, 0)).toBe("[....................]    -");
});

const job = (name: string, namespace: string, status?: Record<string, unknown>): StackObject => ({
  apiVersion: trainingJobResource.apiVersion,
  kind: "TrainingJob",
  metadata: { name, namespace, creationTimestamp: "2026-01-01T00:00:00Z", managedFields: [{}] },
  spec: {},
  status,
});

describe("tables from the CRD's printer columns", () => {
  const now = Date.parse("2026-01-01T00:05:00Z");
  const jobs = [
    job("a", "ns1", {
      phase: "Running",
      pool: "h100",
      readyNodes: 2,
      nodes: 2,
      restarts: 0,
      queuePosition: 3,
    }),
    job("b", "ns2"),
  ];

  test("default columns, empty cells for missing status, kubectl's age", () => {
    expect(
      tableRows(trainingJobResource, jobs, { wide: false, withNamespace: false, qualifyNames: false, now }),
    ).toEqual([
      ["NAME", "PHASE", "POOL", "READY", "NODES", "RESTARTS", "AGE"],
      ["a", "Running", "h100", "2", "2", "0", "5m"],
      ["b", "", "", "", "", "", "5m"],
    ]);
  });

  test("-o wide adds priority columns, -A a namespace, several kinds qualified names", () => {
    const [header, row] = tableRows(trainingJobResource, jobs, {
      wide: true,
      withNamespace: true,
      qualifyNames: true,
      now,
    });
    expect(header).toEqual([
      "NAMESPACE",
      "NAME",
      "PHASE",
      "POOL",
      "READY",
      "NODES",
      "RESTARTS",
      "QUEUE",
      "AGE",
    ]);
    expect(row?.slice(0, 2)).toEqual(["ns1", "trainingjob.stack.sovereign.dev/a"]);
    expect(row?.[7]).toBe("3");
  });

  test("json and yaml drop managedFields; one named object is not wrapped in a List", () => {
    const one = JSON.parse(
      render([{ kind: trainingJobResource, objects: [jobs[0] as StackObject] }], "json", {
        single: true,
        allNamespaces: false,
      }),
    );
    expect(one.kind).toBe("TrainingJob");
    expect(one.metadata.managedFields).toBeUndefined();
    const many = JSON.parse(
      render([{ kind: trainingJobResource, objects: jobs }], "json", { single: false, allNamespaces: false }),
    );
    expect(many).toMatchObject({ apiVersion: "v1", kind: "List" });
    expect(many.items).toHaveLength(2);
    expect(
      render([{ kind: trainingJobResource, objects: jobs }], "name", { single: false, allNamespaces: false }),
    ).toBe("trainingjob.stack.sovereign.dev/a\ntrainingjob.stack.sovereign.dev/b\n");
  });
});
