import { defineConfig } from "vitest/config";

// Projects: unit tests need nothing but Node; integration tests share one real control
// plane per run (started in global-setup), so they are slower and run with fewer workers.
export default defineConfig({
  test: {
    reporters: ["default", "./tests/support/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["tests/unit/**/*.test.ts"],
          setupFiles: ["tests/support/fast-check-seed.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          globalSetup: ["tests/integration/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          maxWorkers: 2,
        },
      },
      {
        // The controllers' pods executed by the real programs (torchrun, Ray) on loopback.
        test: {
          name: "real",
          include: ["tests/real/**/*.test.ts"],
          globalSetup: ["tests/real/global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          // One file at a time: the programs bind fixed ports (torchrun's 29500, Ray's 6379).
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["tests/e2e/**/*.test.ts"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
