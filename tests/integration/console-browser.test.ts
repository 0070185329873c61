// The web console in headless Chromium against the shared control plane: the Pools page shows
// the pools with the devices their nodes have, a TrainingJob applied appears on Workloads
// without a reload and runs, a job that cannot fit shows describe's reason on Queue, and a
// cluster that goes away (its API server behind a relay that the test cuts) shows a banner
// that goes once the watches are back. A screenshot of each page goes to .artifacts/console/.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump, load } from "js-yaml";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { admissionLine } from "../../cli/output/describe.ts";
import { type RunningConsole, startConsole } from "../../console/server/index.ts";
import { loadClusterConnection } from "../../operator/kubeconfig.ts";
import { launchChromium, screenshotDir, type TestBrowser } from "../support/browser.ts";
import { eventually, kubeconfigPath } from "../support/cluster.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { dedicatedJob, type Harness, startHarness } from "./trainingjob-harness.ts";

let h: Harness;
let console_: RunningConsole;
let chromium: TestBrowser;
let page: Page;

const shot = async (p: Page, name: string): Promise<void> => {
  mkdirSync(screenshotDir, { recursive: true });
  await p.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
};

/** Opens a page of the console and waits for its first render with the cluster's data. */
async function show(p: Page, path: string): Promise<void> {
  // A string, not a function: it runs in the page, and this file is compiled without DOM types.
  await p.evaluate(`location.hash = ${JSON.stringify(`#/${path}`)}`);
  // A selector, not waitForFunction: the console's CSP forbids the eval that polling needs.
  await p.waitForSelector(`body[data-rendered="${path.split("/")[0]}"]`, {
    state: "attached",
    timeout: 15_000,
  });
}

beforeAll(async () => {
  h = await startHarness("console", { nodes: 2, sharedPools: ["h100"] });
  console_ = await startConsole({ kubeConfig: loadClusterConnection(kubeconfigPath()), port: 0 });
  await console_.watch.waitForSync();
  chromium = await launchChromium();
  page = await chromium.browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(console_.url);
}, 180_000);

afterAll(async () => {
  await chromium?.close();
  await console_?.close();
  await h?.stop();
});

describe("the console in a browser", () => {
  it("shows every pool with its nodes' devices, grouped by vendor, and the pool's own counts", async () => {
    await show(page, "pools");
    const card = page.locator(`section[data-pool="${h.pool}"]`);
    await card.waitFor({ timeout: 15_000 });
    // What the console counted on the nodes itself: 2 simulated H100 nodes of 8 devices.
    await expect
      .poll(() => card.locator("summary").textContent(), { timeout: 15_000 })
      .toBe("2 nodes, 16 devices");
    // What the operator reported in the pool's status.
    await expect
      .poll(() => card.locator('[data-field="capacity"]').textContent(), { timeout: 30_000 })
      .toBe("16");
    expect(await card.locator('[data-field="free"]').textContent()).toBe("16");
    // The preset pool of the shared cluster: 4 nodes of 8 H100s, under the NVIDIA heading.
    const preset = page.locator('section[data-pool="h100"]');
    await expect
      .poll(() => preset.locator("summary").textContent(), { timeout: 15_000 })
      .toBe("4 nodes, 32 devices");
    expect(await page.locator("#vendor-nvidia").textContent()).toContain("nvidia");
    await shot(page, "pools");
  });

  it("shows a TrainingJob applied after the page loaded, without a reload, and follows it to Running", async () => {
    await show(page, "workloads");
    await page.evaluate("window.notReloaded = true");
    await h.create("live", dedicatedJob(h, 1));
    const row = page.locator(`tr[data-workload="TrainingJob/${h.ns}/live"]`);
    await row.waitFor({ timeout: 10_000 });
    await expect
      .poll(() => row.locator('[data-field="phase"]').textContent(), { timeout: 60_000 })
      .toBe("Running");
    expect(await page.evaluate("window.notReloaded")).toBe(true);
    // Its devices show on the Pools page as held by it.
    await show(page, "pools");
    const held = page.locator(`section[data-pool="${h.pool}"] .legend`);
    await expect.poll(() => held.textContent(), { timeout: 15_000 }).toContain(`trainingjob ${h.ns}/live`);
    // Its detail: timeline, children, events.
    await show(page, `workloads/${encodeURIComponent(`TrainingJob/${h.ns}/live`)}`);
    const detail = page.getByTestId("detail");
    const [pod] = await h.pods("live");
    await expect.poll(() => detail.textContent(), { timeout: 15_000 }).toContain(pod?.metadata.name);
    await expect.poll(() => detail.textContent(), { timeout: 15_000 }).toContain("Admitted");
    await shot(page, "workloads");
  });

  it("puts a job that cannot fit on Queue with describe's reason", async () => {
    // Three nodes of eight devices on a pool of two nodes.
    await h.create("toobig", dedicatedJob(h, 3));
    const job = await h.when(
      "toobig",
      "a waiting reason",
      (j) => admissionLine("TrainingJob", j as never) !== undefined,
    );
    await show(page, "queue");
    const row = page.locator(`tr[data-workload="TrainingJob/${h.ns}/toobig"]`);
    await row.waitFor({ timeout: 15_000 });
    const expected =
      admissionLine("TrainingJob", (await h.get("toobig")) as never) ??
      admissionLine("TrainingJob", job as never);
    await expect
      .poll(() => row.locator('[data-field="reason"]').textContent(), { timeout: 15_000 })
      .toBe(`${expected?.label}: ${expected?.text}`);
    expect(expected?.text).toMatch(/node|device/);
    await shot(page, "queue");
    await show(page, "serving");
    await shot(page, "serving");
  });

  it("shows a banner while the cluster is away and drops it once the watches are back", async () => {
    const server = new URL(console_.state.cluster.server);
    const proxy: TcpProxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
    const dir = await mkdtemp(join(tmpdir(), "console-outage-"));
    const config = load(readFileSync(kubeconfigPath(), "utf8")) as {
      clusters: Array<{ cluster: { server: string } }>;
    };
    for (const c of config.clusters) c.cluster.server = `https://127.0.0.1:${proxy.port}`;
    writeFileSync(join(dir, "kubeconfig"), dump(config));
    const away = await startConsole({
      kubeConfig: loadClusterConnection(join(dir, "kubeconfig")),
      port: 0,
      probeIntervalMs: 500,
    });
    const p = await chromium.browser.newPage();
    try {
      await away.watch.waitForSync();
      await p.goto(away.url);
      await show(p, "workloads");
      const banner = p.getByTestId("banner");
      expect(await banner.count()).toBe(0);

      await proxy.cut();
      await banner.waitFor({ timeout: 15_000 });
      expect(await banner.textContent()).toContain("Cluster unavailable");
      await shot(p, "banner");
      // Made while the console cannot see the cluster: it must show up once it can.
      await h.create("during-outage", dedicatedJob(h, 1, {}, { suspend: true }));

      await proxy.restore();
      await banner.waitFor({ state: "detached", timeout: 90_000 });
      await p.locator(`tr[data-workload="TrainingJob/${h.ns}/during-outage"]`).waitFor({ timeout: 30_000 });
      await eventually(async () => (away.state.cluster.connected ? true : undefined), 5000, "connected");
    } finally {
      await p.close();
      await away.close();
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
