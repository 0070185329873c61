import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BodyError, scanBody } from "../../router/body-scan.ts";

const scan = (value: unknown, prefix = 64) => scanBody(Buffer.from(JSON.stringify(value)), prefix);

describe("scanBody", () => {
  it("finds the model and the start of a completion prompt", () => {
    expect(scan({ model: "llama", prompt: "Once upon a time", max_tokens: 5 })).toEqual({
      model: "llama",
      prefix: "Once upon a time",
    });
  });

  it("joins chat message contents in order, text parts included, up to the limit", () => {
    const body = {
      messages: [
        { role: "system", content: "You are terse." },
        {
          role: "user",
          content: [
            { type: "image_url", image_url: { url: "x" } },
            { type: "text", text: "Hi there" },
          ],
        },
      ],
      stream: true,
      model: "m",
    };
    expect(scan(body)).toEqual({ model: "m", prefix: "You are terse.\nHi there" });
    expect(scan(body, 6).prefix).toBe("You ar");
  });

  it("reads a model that comes after a 220 KB prompt, and decodes escapes in it", () => {
    const long = "x".repeat(220_000);
    const r = scan({ messages: [{ role: "user", content: long }], model: 'we"ird\\model' }, 512);
    expect(r.model).toBe('we"ird\\model');
    expect(r.prefix).toBe("x".repeat(512));
  });

  it("finds the top-level model past a long prompt even when nested keys are named model", () => {
    const body = {
      messages: [
        { role: "system", content: "x".repeat(10_000) },
        { role: "tool", content: JSON.stringify({ model: "not this", rows: [1, 2, 3] }) },
      ],
      model: "top",
      tools: [{ type: "function", function: { parameters: { properties: { model: { type: "string" } } } } }],
      metadata: { model: "nor this" },
    };
    expect(scan(body, 16)).toEqual({ model: "top", prefix: "x".repeat(16) });
    expect(scan({ ...body, model: undefined }, 16).model).toBeUndefined();
    // A later duplicate wins, as in JSON.parse.
    expect(scanBody(Buffer.from('{"model":"a","prompt":"hello there","model":"b"}'), 4).model).toBe("b");
  });

  it("takes strings of a prompt array and skips token ids", () => {
    expect(scan({ model: "m", prompt: [[1, 2, 3], "second"] }).prefix).toBe("second");
    expect(scan({ model: "m", input: ["a", "b"] }).prefix).toBe("a\nb");
  });

  it("never cuts a multi-byte character in half", () => {
    const r = scan({ model: "m", prompt: "ééé" }, 3);
    expect(r.prefix).toBe("é");
  });

  it("reads a key spelled with escapes", () => {
    expect(scanBody(Buffer.from('{"\\u006dodel": "m", "x": 1e-3, "y": [true, false, null]}'), 8).model).toBe(
      "m",
    );
  });

  it("has no model when the body names none", () => {
    expect(scan({ prompt: "hi" }).model).toBeUndefined();
  });

  it.each([
    ["not JSON", "{not json"],
    ["an array", '[{"model":"m"}]'],
    ["trailing data", '{"model":"m"} x'],
    ["an unterminated string", '{"model":"m'],
    ["a bad literal", '{"model":"m","stream":tru}'],
    ["a missing comma", '{"model":"m" "prompt":"x"}'],
    ["an unclosed array", '{"model":"m","messages":[{"content":"x"}'],
    ["empty", ""],
  ])("rejects %s with a BodyError", (_what, text) => {
    expect(() => scanBody(Buffer.from(text), 64)).toThrow(BodyError);
  });

  it("names the field when the model is not a string", () => {
    try {
      scan({ model: 42 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BodyError);
      expect((error as BodyError).param).toBe("model");
    }
  });

  it("agrees with JSON.parse on the model of any object", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.string(),
        fc.boolean(),
        (rest, model, pretty) => {
          const body = { ...rest, model };
          const text = JSON.stringify(body, null, pretty ? 2 : undefined);
          expect(scanBody(Buffer.from(text), 32).model).toBe(model);
        },
      ),
    );
  });

  it("throws only BodyError on arbitrary bytes", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json().map((j) => j.slice(0, Math.max(0, j.length - 1))),
        ),
        (text) => {
          try {
            scanBody(Buffer.from(text), 16);
          } catch (error) {
            expect(error).toBeInstanceOf(BodyError);
          }
        },
      ),
    );
  });
});
