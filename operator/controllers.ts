// The controllers the operator runs. Adding one is one line: import its factory from
// controllers/<kind>/ and append it here (pools, training, ray, inference).
import { acceleratorPoolController } from "../controllers/acceleratorpool/index.ts";
import { inferenceServiceController } from "../controllers/inferenceservice/index.ts";
import { rayClusterController } from "../controllers/raycluster/index.ts";
import { trainingJobController } from "../controllers/trainingjob/index.ts";
import type { ControllerFactory } from "./controller.ts";

export const controllerFactories: ControllerFactory[] = [
  acceleratorPoolController,
  rayClusterController,
  inferenceServiceController,
  trainingJobController,
];
