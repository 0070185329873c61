// The `stackctl queues` table from TeamQuota and AcceleratorQueue objects as the API returns them.
import { describe, expect, it } from "vitest";
import type { StackObject } from "../../cli/kube/objects.ts";
import { queuesTable } from "../../cli/output/queues.ts";

const team = (name: string, spec: Record<string, unknown>, status?: Record<string, unknown>): StackObject =>
  ({
    apiVersion: "stack.sovereign.dev/v1alpha1",
    kind: "TeamQuota",
    metadata: { name },
    spec,
    status,
  }) as StackObject;

describe("stackctl queues", () => {
  it("shows per team and class nominal, used, borrowed and pending, a bar and its queues", () => {
    const text = queuesTable(
      [
        team(
          "ml-research",
          { cohort: "research", devices: [{ name: "h100", nominal: 64 }] },
          { devices: [{ name: "h100", nominal: 64, used: 72, borrowed: 8, pending: 16 }] },
        ),
        team("ml-product", { cohort: "research", devices: [{ name: "h100", nominal: 32 }] }),
      ],
      [
        {
          apiVersion: "stack.sovereign.dev/v1alpha1",
          kind: "AcceleratorQueue",
          metadata: { name: "research", namespace: "ml" },
          spec: { teamQuota: "ml-research" },
        } as StackObject,
      ],
    );
    const [header, research, product] = text.trimEnd().split("\n");
    expect(header?.split(/\s+/)).toEqual([
      "TEAM",
      "COHORT",
      "CLASS",
      "NOMINAL",
      "USED",
      "BORROWED",
      "PENDING",
      "USAGE",
      "QUEUES",
    ]);
    expect(research).toMatch(
      /^ml-research\s+research\s+h100\s+64\s+72\s+8\s+16\s+\[#{20}\] 100%\s+ml\/research$/,
    );
    // No status yet: the spec's classes with zeros, not a missing row.
    expect(product).toMatch(/^ml-product\s+research\s+h100\s+32\s+0\s+0\s+0\s+\[\.{20}\]\s+0%\s+-$/);
  });
});
