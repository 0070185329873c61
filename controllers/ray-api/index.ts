// Clients of a Ray head's dashboard (Job Submission, Serve, cluster status), for the RayJob,
// RayService and RayCluster autoscaling controllers.
export * from "./cluster-status.ts";
export * from "./http.ts";
export * from "./jobs.ts";
export * from "./serve.ts";
