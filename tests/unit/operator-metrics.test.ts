import { describe, expect, it } from "vitest";
import { exponentialBuckets, MetricsRegistry } from "../../operator/metrics.ts";

describe("metrics exposition", () => {
  it("renders counters and gauges with HELP, TYPE and escaped labels", () => {
    const r = new MetricsRegistry();
    const c = r.counter(
      "controller_runtime_reconcile_total",
      "Total number of reconciliations per controller",
      ["controller", "result"],
    );
    c.inc({ controller: "widget", result: "success" });
    c.inc({ controller: "widget", result: "success" }, 2);
    c.inc({ controller: 'we"ird\\name\n', result: "error" });
    c.inc({ controller: "widget", result: "success" }, -5); // ignored: counters only go up
    r.gauge("leader_election_master_status", "leader?", ["name"]).set({ name: "op" }, 1);
    expect(r.render()).toBe(
      [
        "# HELP controller_runtime_reconcile_total Total number of reconciliations per controller",
        "# TYPE controller_runtime_reconcile_total counter",
        'controller_runtime_reconcile_total{controller="widget",result="success"} 3',
        'controller_runtime_reconcile_total{controller="we\\"ird\\\\name\\n",result="error"} 1',
        "# HELP leader_election_master_status leader?",
        "# TYPE leader_election_master_status gauge",
        'leader_election_master_status{name="op"} 1',
        "",
      ].join("\n"),
    );
  });

  it("renders histograms with cumulative buckets, +Inf, sum and count", () => {
    const r = new MetricsRegistry();
    const h = r.histogram("controller_runtime_reconcile_time_seconds", "t", ["controller"], [0.1, 1, 10]);
    for (const v of [0.05, 0.1, 0.5, 5, 50]) h.observe({ controller: "w" }, v);
    const text = r.render();
    expect(text).toContain('controller_runtime_reconcile_time_seconds_bucket{controller="w",le="0.1"} 2');
    expect(text).toContain('controller_runtime_reconcile_time_seconds_bucket{controller="w",le="1"} 3');
    expect(text).toContain('controller_runtime_reconcile_time_seconds_bucket{controller="w",le="10"} 4');
    expect(text).toContain('controller_runtime_reconcile_time_seconds_bucket{controller="w",le="+Inf"} 5');
    expect(text).toContain('controller_runtime_reconcile_time_seconds_sum{controller="w"} 55.65');
    expect(text).toContain('controller_runtime_reconcile_time_seconds_count{controller="w"} 5');
  });

  it("returns the same metric for the same name and refuses a different type", () => {
    const r = new MetricsRegistry();
    const a = r.counter("x_total", "x");
    expect(r.counter("x_total", "x")).toBe(a);
    expect(() => r.gauge("x_total", "x")).toThrow(/already registered/);
  });

  it("runs collectors before rendering", () => {
    const r = new MetricsRegistry();
    const g = r.gauge("depth", "d");
    let n = 0;
    r.onCollect(() => g.set({}, ++n));
    expect(r.render()).toContain("depth 1");
    expect(r.render()).toContain("depth 2");
  });

  it("computes client-go's workqueue buckets", () => {
    const b = exponentialBuckets(10e-9, 10, 12);
    expect(b[0]).toBe(1e-8);
    expect(b.at(-1)).toBe(1000);
    expect(b).toHaveLength(12);
  });
});
