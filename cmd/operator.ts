// The operator process (kubebuilder's cmd/main.go): `npm start`, `node cmd/operator.ts --help`
// for the flags. It builds the one admitter that every workload kind shares and the
// controllers, explicitly, and hands them to the runtime; operator/ knows nothing of them.
import { applyOperatorNodeFlags } from "../operator/node-flags.ts";

// First, before the controllers and the runtime are loaded: this may re-execute the process.
applyOperatorNodeFlags();

const { CommanderError } = await import("commander");
const { runOperator } = await import("../operator/run.ts");
const { Admitter } = await import("../controllers/admission/index.ts");
const { acceleratorPoolController } = await import("../controllers/acceleratorpool/index.ts");
const { inferenceServiceController } = await import("../controllers/inferenceservice/index.ts");
const { queueingControllers } = await import("../controllers/queueing/index.ts");
const { rayClusterController } = await import("../controllers/raycluster/index.ts");
const { rayJobController } = await import("../controllers/rayjob/index.ts");
const { rayServiceController } = await import("../controllers/rayservice/index.ts");
const { trainingJobController } = await import("../controllers/trainingjob/index.ts");

try {
  await runOperator((manager) => {
    // Admission decisions are made over the whole cluster at once, across every kind.
    const admitter = new Admitter(manager);
    manager.add(acceleratorPoolController);
    manager.add(rayClusterController(admitter));
    manager.add(rayJobController());
    manager.add(rayServiceController());
    manager.add(inferenceServiceController(admitter));
    manager.add(trainingJobController(admitter));
    // Team quotas, cohorts and preemption: they hand the admitter its quota hook.
    for (const controller of queueingControllers(admitter)) manager.add(controller);
  });
} catch (error) {
  // Commander has already printed usage errors and --help; only its exit code is left.
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
