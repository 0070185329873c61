// Prints one plain closing line, `tests: N passed, N failed, N skipped`, that tools reading
// CI logs recognise whatever the test runner, and names every test that passed only on a retry
// (the projects that talk to real processes retry once; see vitest.config.ts).
import { relative } from "node:path";
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const flaky: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") {
          passed++;
          if (test.diagnostic()?.flaky) {
            // A test that passed on its retry keeps its first attempt's error: shown, so a flaky
            // test says why it failed once without a second run.
            const first = test.result().errors?.[0]?.message?.split("\n")[0]?.slice(0, 300);
            flaky.push(
              `${relative(process.cwd(), module.moduleId)} > ${test.fullName}${first ? ` (first: ${first})` : ""}`,
            );
          }
        } else if (state === "failed") failed++;
        else skipped++;
      }
      // A file that failed to load has no tests but must still count as a failure.
      if (
        module.state() === "failed" &&
        ![...module.children.allTests()].some((t) => t.result().state === "failed")
      )
        failed++;
    }
    for (const name of flaky) process.stdout.write(`\nflaky (passed on its retry): ${name}`);
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
