// Ray's Job Submission REST API on the dashboard port (/api/jobs/), as `ray job submit` uses
// it: submit an entrypoint under a submission id of our choosing (so a repeated submit after an
// operator restart finds the job instead of starting a second one), read its status and logs,
// stop it, delete it.
import { rayJobStatuses } from "../../crds/runtime/index.ts";
import { isRayNotFound, RayApiError, type RayHttpOptions, rayJson } from "./http.ts";

export type RayJobStatus = (typeof rayJobStatuses)[number];

export const isTerminalJobStatus = (s: RayJobStatus | undefined): boolean =>
  s === "STOPPED" || s === "SUCCEEDED" || s === "FAILED";

export interface JobSubmission {
  entrypoint: string;
  submissionId: string;
  /** Ray's runtime_env (working_dir, pip, env_vars, ...), passed as given. */
  runtimeEnv?: Record<string, unknown>;
  metadata?: Record<string, string>;
  entrypointNumCpus?: number;
  entrypointNumGpus?: number;
  entrypointResources?: Record<string, number>;
}

export interface JobDetails {
  submissionId: string;
  jobId: string | undefined;
  status: RayJobStatus;
  message: string | undefined;
  errorType: string | undefined;
  /** Milliseconds since the epoch. */
  startTime: number | undefined;
  endTime: number | undefined;
  driverExitCode: number | undefined;
}

interface RawJob {
  submission_id?: string | null;
  job_id?: string | null;
  status?: string;
  message?: string | null;
  error_type?: string | null;
  start_time?: number | null;
  end_time?: number | null;
  driver_exit_code?: number | null;
}

const orUndefined = <T>(v: T | null | undefined): T | undefined => (v === null ? undefined : v);
const time = (v: number | null | undefined): number | undefined => (v ? v : undefined);

export function parseJobDetails(raw: RawJob, fallbackId: string): JobDetails {
  const status = (rayJobStatuses as readonly string[]).includes(raw.status ?? "")
    ? (raw.status as RayJobStatus)
    : "PENDING";
  return {
    submissionId: raw.submission_id ?? fallbackId,
    jobId: orUndefined(raw.job_id),
    status,
    message: orUndefined(raw.message),
    errorType: orUndefined(raw.error_type),
    startTime: time(raw.start_time),
    endTime: time(raw.end_time),
    driverExitCode: orUndefined(raw.driver_exit_code),
  };
}

const submitTimeoutMs = 60_000;

const jobPath = (id: string, rest = ""): string => `/api/jobs/${encodeURIComponent(id)}${rest}`;

export class JobSubmissionClient {
  readonly dashboardUrl: string;
  private readonly options: RayHttpOptions;

  constructor(dashboardUrl: string, options: RayHttpOptions = {}) {
    this.dashboardUrl = dashboardUrl;
    this.options = options;
  }

  /** Submits; a job already known under this submission id counts as submitted. */
  async submit(job: JobSubmission): Promise<{ submissionId: string; alreadyExisted: boolean }> {
    const body: Record<string, unknown> = { entrypoint: job.entrypoint, submission_id: job.submissionId };
    if (job.runtimeEnv) body.runtime_env = job.runtimeEnv;
    if (job.metadata) body.metadata = job.metadata;
    if (job.entrypointNumCpus !== undefined) body.entrypoint_num_cpus = job.entrypointNumCpus;
    if (job.entrypointNumGpus !== undefined) body.entrypoint_num_gpus = job.entrypointNumGpus;
    if (job.entrypointResources) body.entrypoint_resources = job.entrypointResources;
    try {
      // Ray answers a submission once its job supervisor actor exists: seconds on a busy head.
      const reply = await rayJson<{ submission_id?: string }>(this.dashboardUrl, "POST", "/api/jobs/", body, {
        ...this.options,
        timeoutMs: Math.max(this.options.timeoutMs ?? 0, submitTimeoutMs),
      });
      return { submissionId: reply.submission_id ?? job.submissionId, alreadyExisted: false };
    } catch (error) {
      // Ray answers "Job with submission_id ... already exists" (a 500 wrapping the job agent's
      // 400) for a submission id it knows.
      if (error instanceof RayApiError && /submission_id \S+ already exists/i.test(error.body)) {
        const known = await this.get(job.submissionId);
        if (known) return { submissionId: known.submissionId, alreadyExisted: true };
      }
      throw error;
    }
  }

  /** The job, or undefined when the head does not know it. */
  async get(submissionId: string): Promise<JobDetails | undefined> {
    try {
      const raw = await rayJson<RawJob>(
        this.dashboardUrl,
        "GET",
        jobPath(submissionId),
        undefined,
        this.options,
      );
      return parseJobDetails(raw, submissionId);
    } catch (error) {
      if (isRayNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Everything the driver wrote so far. */
  async logs(submissionId: string): Promise<string> {
    const raw = await rayJson<{ logs?: string }>(
      this.dashboardUrl,
      "GET",
      jobPath(submissionId, "/logs"),
      undefined,
      this.options,
    );
    return raw.logs ?? "";
  }

  /** Asks Ray to stop the job; false when it had already ended, true when a stop was sent. */
  async stop(submissionId: string): Promise<boolean> {
    try {
      const raw = await rayJson<{ stopped?: boolean }>(
        this.dashboardUrl,
        "POST",
        jobPath(submissionId, "/stop"),
        undefined,
        this.options,
      );
      return raw.stopped === true;
    } catch (error) {
      if (isRayNotFound(error)) return false;
      throw error;
    }
  }

  /** Forgets a finished job (Ray refuses to delete a running one). */
  async delete(submissionId: string): Promise<boolean> {
    try {
      const raw = await rayJson<{ deleted?: boolean }>(
        this.dashboardUrl,
        "DELETE",
        jobPath(submissionId),
        undefined,
        this.options,
      );
      return raw.deleted === true;
    } catch (error) {
      if (isRayNotFound(error)) return false;
      throw error;
    }
  }
}
