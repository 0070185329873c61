import { describe, expect, it } from "vitest";
import { ApiKeys, apiKeysFromJson, apiKeysFromSecretData } from "../../router/tenants.ts";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("API keys", () => {
  it("makes every request the default tenant when no keys are configured", () => {
    const keys = new ApiKeys(undefined);
    expect(keys.required).toBe(false);
    expect(keys.tenantOf(undefined)).toBe("default");
  });

  it("maps bearer keys from a Secret to tenants, one key per line", () => {
    const keys = new ApiKeys(apiKeysFromSecretData({ acme: b64("k1\nk2\n"), beta: b64("k3") }, "keys"));
    expect(keys.tenantOf("Bearer k2")).toBe("acme");
    expect(keys.tenantOf("bearer k3")).toBe("beta");
    expect(keys.tenantOf("Bearer nope")).toBeUndefined();
    expect(keys.tenantOf("k1")).toBeUndefined();
    expect(keys.tenantOf(undefined)).toBeUndefined();
    expect(keys.tenants).toEqual(["acme", "beta"]);
  });

  it("reads the JSON file format", () => {
    const keys = new ApiKeys(apiKeysFromJson('{"a": ["x", "y"], "b": "z"}', "keys.json"));
    expect(keys.tenantOf("Bearer z")).toBe("b");
  });

  it("rejects a key given to two tenants, naming both", () => {
    expect(() => new ApiKeys(apiKeysFromJson('{"a": ["x"], "b": ["x"]}', "f"))).toThrow(/a and b/);
  });

  it("names the file and the tenant on bad input", () => {
    expect(() => apiKeysFromJson("[1]", "keys.json")).toThrow(/keys.json: expected an object/);
    expect(() => apiKeysFromJson('{"a": [1]}', "keys.json")).toThrow(/tenant a/);
    expect(() => apiKeysFromSecretData({ "bad name!": b64("k") }, "s")).toThrow(/Secret s: tenant name/);
  });
});
