// The admission record every workload kind keeps in its status. The operator writes it before
// it creates a single pod, so a restarted operator finds what it admitted, where, and never
// admits the same devices twice: the API server, not the process, remembers reservations.
import { z } from "zod";
import { timestampField } from "./common.ts";
import { listMap } from "./kit.ts";

export const admissionStatus = z
  .strictObject({
    admittedAt: timestampField("When the workload was admitted."),
    placements: listMap(
      z
        .strictObject({
          group: z
            .string()
            .min(1)
            .max(63)
            .describe("The pod group: `workers` for a TrainingJob, a worker group's name, `server`."),
          pool: z.string().min(1).max(253).describe("The AcceleratorPool the group's pods run on."),
          vendor: z.string().max(32).describe("The pool's vendor, which picks the image.").optional(),
          resourceName: z.string().max(253).describe("The extended resource the pods request.").optional(),
          nodes: z
            .array(z.string().max(253))
            .max(1024)
            .describe("The node of each pod, by pod index; empty when the scheduler chooses within the pool.")
            .optional(),
          replicas: z.int().min(0).describe("Pods of the group placed on this pool.").optional(),
        })
        .describe("Where one pod group was admitted."),
      "group",
      64,
    )
      .describe("One entry per pod group (per pool for inference replicas, keyed `server/<pool>`).")
      .optional(),
  })
  .describe("Where the operator admitted the workload; present from admission until it is released.");
export type AdmissionStatus = z.output<typeof admissionStatus>;
