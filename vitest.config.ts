import { defineConfig } from "vitest/config";

// Projects: unit tests need nothing but Node; integration tests share one real control
// plane per run (started in global-setup), so they are slower and run with fewer workers.
// Tests against real processes (API servers, kwok, Ray, torchrun) on a loaded 2-core machine get
// one retry: a test that passes only on its retry is listed as flaky by the summary reporter, so
// it stays visible and gets fixed, but one slow scheduler tick does not fail the run. Unit tests
// get none: a pure function that fails once is a bug.
export default defineConfig({
  test: {
    reporters: ["default", "./tests/support/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["tests/unit/**/*.test.ts"],
          sequence: { groupOrder: 0 },
          setupFiles: ["tests/support/fast-check-seed.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          sequence: { groupOrder: 0 },
          globalSetup: ["tests/integration/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          maxWorkers: 2,
          retry: 1,
        },
      },
      {
        // The controllers' pods executed by the real programs (torchrun, Ray) on loopback.
        test: {
          name: "real",
          include: ["tests/real/**/*.test.ts"],
          // After the others: real Ray and torchrun under the integration files' load (their own
          // Ray heads, a dozen control planes) once left a worker silent for 4 minutes.
          sequence: { groupOrder: 1 },
          globalSetup: ["tests/real/global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          retry: 1,
          // One file at a time: the programs bind fixed ports (torchrun's 29500, Ray's 6379).
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["tests/e2e/**/*.test.ts"],
          sequence: { groupOrder: 0 },
          testTimeout: 300_000,
          hookTimeout: 300_000,
          retry: 1,
        },
      },
    ],
  },
});
