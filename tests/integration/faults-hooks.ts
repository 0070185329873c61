// The vitest side of a fault scenario: opened before the file's tests, closed after them.
import { afterAll, beforeAll } from "vitest";
import { openScenario, type Scenario } from "./faults-harness.ts";

/** Registers the hooks; the returned function gives the open scenario inside a test. */
export function scenarioHooks(o: Parameters<typeof openScenario>[0]): () => Scenario {
  let scenario: Scenario | undefined;
  beforeAll(async () => {
    scenario = await openScenario(o);
  });
  afterAll(() => scenario?.close());
  return () => {
    if (!scenario) throw new Error(`the ${o.name} scenario did not open`);
    return scenario;
  };
}
