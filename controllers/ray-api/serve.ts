// Ray Serve's REST API on the dashboard port (/api/serve/applications/), as `serve deploy` and
// `serve status` use it: put a whole Serve config (every application at once; Ray converges to
// it), read each application's and deployment's status, shut Serve down.
import { type RayHttpOptions, rayJson, rayRequest } from "./http.ts";

export interface DeploymentStatus {
  name: string;
  /** UPDATING, HEALTHY, UNHEALTHY, UPSCALING, DOWNSCALING. */
  status: string;
  message: string | undefined;
  replicas: number;
}

export interface ApplicationStatus {
  name: string;
  /** NOT_STARTED, DEPLOYING, DEPLOY_FAILED, RUNNING, UNHEALTHY, DELETING. */
  status: string;
  message: string | undefined;
  routePrefix: string | undefined;
  deployments: DeploymentStatus[];
}

interface RawDeployment {
  name?: string;
  status?: string;
  message?: string | null;
  replicas?: unknown[];
}
interface RawApplication {
  name?: string;
  status?: string;
  message?: string | null;
  route_prefix?: string | null;
  deployments?: Record<string, RawDeployment>;
}

const text = (v: string | null | undefined): string | undefined => (v ? v : undefined);

/** The applications of a GET /api/serve/applications/ answer, sorted by name. */
export function parseServeApplications(raw: {
  applications?: Record<string, RawApplication>;
}): ApplicationStatus[] {
  return Object.entries(raw.applications ?? {})
    .map(([name, app]) => ({
      name: app.name ?? name,
      status: app.status ?? "NOT_STARTED",
      message: text(app.message),
      routePrefix: text(app.route_prefix),
      deployments: Object.entries(app.deployments ?? {})
        .map(([dName, d]) => ({
          name: d.name ?? dName,
          status: d.status ?? "UPDATING",
          message: text(d.message),
          replicas: d.replicas?.length ?? 0,
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export class ServeClient {
  readonly dashboardUrl: string;
  private readonly options: RayHttpOptions;

  constructor(dashboardUrl: string, options: RayHttpOptions = {}) {
    this.dashboardUrl = dashboardUrl;
    this.options = options;
  }

  /** Deploys a whole Serve config (the parsed serveConfigV2); Ray answers once it accepted it. */
  async deploy(config: Record<string, unknown>): Promise<void> {
    await rayRequest(this.dashboardUrl, "PUT", "/api/serve/applications/", config, {
      timeoutMs: 30_000,
      ...this.options,
    });
  }

  async applications(): Promise<ApplicationStatus[]> {
    return parseServeApplications(
      await rayJson(this.dashboardUrl, "GET", "/api/serve/applications/", undefined, this.options),
    );
  }

  /** Deletes every application and stops Serve on the cluster. */
  async shutdown(): Promise<void> {
    await rayRequest(this.dashboardUrl, "DELETE", "/api/serve/applications/", undefined, {
      timeoutMs: 30_000,
      ...this.options,
    });
  }
}
