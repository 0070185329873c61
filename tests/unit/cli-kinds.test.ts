// Kind names on the command line, and how client errors become exit codes.
import { ApiException } from "@kubernetes/client-node";
import { describe, expect, test } from "vitest";
import { CliError } from "../../cli/errors.ts";
import { explain, rememberServer, retryAfterMs, toCliError } from "../../cli/kube/errors.ts";
import { findKind, parseKindSlashName, resolveKind, resolveKinds } from "../../cli/kube/kinds.ts";
import { exitCodes } from "../../cli/output/exit-codes.ts";
import { resources } from "../../crds/index.ts";

describe("kinds by any of their names", () => {
  test.for([
    "TrainingJob",
    "trainingjob",
    "trainingjobs",
    "tj",
    "TJ",
    "trainingjobs.stack.sovereign.dev",
    "tj.stack.sovereign.dev",
  ])("%s", (word) => {
    expect(findKind(word)?.kind).toBe("TrainingJob");
  });

  test("short names of every kind", () => {
    expect(["ap", "tj", "rayc", "isvc"].map((w) => resolveKind(w).kind)).toEqual([
      "AcceleratorPool",
      "TrainingJob",
      "RayCluster",
      "InferenceService",
    ]);
  });

  test("an unknown kind is its own exit code and lists the known ones", () => {
    let error: CliError | undefined;
    try {
      resolveKind("pods");
    } catch (e) {
      error = e as CliError;
    }
    expect(error).toBeInstanceOf(CliError);
    expect(error?.exitCode).toBe(exitCodes.unknownKind);
    expect(error?.message).toContain("trainingjobs (tj)");
  });

  test("comma lists and the aistack category", () => {
    expect(resolveKinds("tj,isvc,tj").map((k) => k.shortNames[0])).toEqual(["tj", "isvc"]);
    expect(resolveKinds("aistack")).toHaveLength(resources.length);
    expect(resolveKinds("all")).toHaveLength(resources.length);
  });

  test("KIND/NAME", () => {
    expect(parseKindSlashName("rayc/research")).toMatchObject({
      name: "research",
      kind: { kind: "RayCluster" },
    });
    expect(parseKindSlashName("research")).toBeUndefined();
    expect(() => parseKindSlashName("tj/")).toThrow(CliError);
  });
});

describe("client errors become one-line CliErrors with the class's exit code", () => {
  const status = (code: number, reason: string, message: string) =>
    new ApiException(
      code,
      "Unknown API Status Code!",
      JSON.stringify({ kind: "Status", code, reason, message }),
      {},
    );

  test.for([
    [404, "NotFound", exitCodes.notFound],
    [403, "Forbidden", exitCodes.forbidden],
    [401, "Unauthorized", exitCodes.forbidden],
    [422, "Invalid", exitCodes.invalidManifest],
    [500, "InternalError", exitCodes.failed],
  ] as const)("HTTP %i", ([code, reason, exit]) => {
    const error = toCliError(status(code, reason, `the server says ${reason}`));
    expect(error?.exitCode).toBe(exit);
    expect(error?.message).toBe(`the server says ${reason}`);
  });

  test("a server-side apply conflict suggests --force-conflicts", () => {
    const error = toCliError(
      status(409, "Conflict", 'Apply failed with 1 conflict: conflict with "kubectl": .spec.image'),
    );
    expect(error?.message).toContain("--force-conflicts");
  });

  test("a refused connection names the server", () => {
    rememberServer("https://127.0.0.1:6443");
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" });
    const error = toCliError(new TypeError("fetch failed", { cause: refused }));
    expect(error?.exitCode).toBe(exitCodes.noCluster);
    expect(error?.message).toBe("no cluster reachable at https://127.0.0.1:6443 (ECONNREFUSED)");
  });

  test("anything else is left alone", () => {
    expect(toCliError(new RangeError("bug"))).toBeUndefined();
  });
});

describe("a 429 is waited out, as kubectl does", () => {
  const tooMany = (retryAfter?: string) =>
    new ApiException(
      429,
      "Too Many Requests",
      JSON.stringify({ kind: "Status", code: 429, message: "storage is (re)initializing" }),
      retryAfter ? { "retry-after": retryAfter } : {},
    );

  test("for as long as Retry-After says, capped, one second when it says nothing", () => {
    expect(retryAfterMs(tooMany("2"))).toBe(2000);
    expect(retryAfterMs(tooMany("3600"))).toBe(5000);
    expect(retryAfterMs(tooMany())).toBe(1000);
    expect(retryAfterMs(new ApiException(500, "", "", {}))).toBeUndefined();
  });

  test("explain retries a call answered 429 until it succeeds", async () => {
    let calls = 0;
    const result = await explain(async () => {
      calls++;
      if (calls < 3) throw tooMany("0.01");
      return "listed";
    });
    expect([result, calls]).toEqual(["listed", 3]);
  });
});
