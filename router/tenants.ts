// API keys and the tenants they stand for. Two sources share one format: a Secret whose data
// keys are tenant names and whose values hold that tenant's keys, one per line; or a JSON file
// {"tenant": ["key", ...]} for tests and local runs. A key given to two tenants is an error
// naming both, since a request with it could not be attributed.

export const defaultTenant = "default";

export class ApiKeys {
  /** undefined: no keys configured, every request is the default tenant. */
  private readonly byKey: Map<string, string> | undefined;
  readonly tenants: readonly string[];

  constructor(byTenant: ReadonlyMap<string, readonly string[]> | undefined) {
    if (!byTenant) {
      this.byKey = undefined;
      this.tenants = [defaultTenant];
      return;
    }
    const byKey = new Map<string, string>();
    for (const [tenant, keys] of byTenant) {
      for (const key of keys) {
        const other = byKey.get(key);
        if (other !== undefined && other !== tenant)
          throw new Error(`an API key is listed for two tenants, ${other} and ${tenant}`);
        byKey.set(key, tenant);
      }
    }
    this.byKey = byKey;
    this.tenants = [...byTenant.keys()].sort();
  }

  get required(): boolean {
    return this.byKey !== undefined;
  }

  /**
   * The tenant of an Authorization header ("Bearer KEY"); undefined when keys are required
   * and this one is missing or unknown.
   */
  tenantOf(authorization: string | undefined): string | undefined {
    if (!this.byKey) return defaultTenant;
    if (!authorization) return undefined;
    const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization);
    return m?.[1] === undefined ? undefined : this.byKey.get(m[1]);
  }
}

const tenantName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function splitKeys(tenant: string, text: string, where: string): string[] {
  if (!tenantName.test(tenant))
    throw new Error(
      `${where}: tenant name ${JSON.stringify(tenant)} must be 1-63 letters, digits, '.', '_' or '-'`,
    );
  const keys = text
    .split("\n")
    .map((k) => k.trim())
    .filter((k) => k !== "" && !k.startsWith("#"));
  for (const k of keys)
    if (/\s/.test(k)) throw new Error(`${where}: a key of tenant ${tenant} contains whitespace`);
  return keys;
}

/** From a Secret's `data` (base64 values) and `stringData`-like plain values. */
export function apiKeysFromSecretData(
  data: Record<string, string> | undefined,
  secretName: string,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [tenant, b64] of Object.entries(data ?? {})) {
    out.set(tenant, splitKeys(tenant, Buffer.from(b64, "base64").toString("utf8"), `Secret ${secretName}`));
  }
  return out;
}

/** From the JSON file format: {"tenant": ["key", ...]} (a single string is one key). */
export function apiKeysFromJson(text: string, path: string): Map<string, string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw new Error(`${path}: expected an object of tenant names to lists of keys`);
  const out = new Map<string, string[]>();
  for (const [tenant, value] of Object.entries(parsed)) {
    const list = typeof value === "string" ? [value] : value;
    if (!Array.isArray(list) || !list.every((k) => typeof k === "string"))
      throw new Error(`${path}: tenant ${tenant}: expected a list of key strings`);
    out.set(tenant, splitKeys(tenant, list.join("\n"), path));
  }
  return out;
}
