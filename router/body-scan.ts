// Reads just enough of an OpenAI request body to route it: the top-level "model" string and
// the first bytes of the prompt (`prompt`, `input`, or the messages' contents in order),
// without JSON.parse. A 220 KB prompt is mostly one or two long strings; those are skipped
// with Buffer.indexOf (memchr), so the cost is in the structure, not the text. The body is
// forwarded to the engine byte for byte, and the engine validates it fully; what this scanner
// rejects is what it must see to route: an object at the top, well-formed structure around
// the keys it reads, a model string.

export interface ScannedBody {
  /** The top-level "model", decoded; undefined when absent. */
  model: string | undefined;
  /**
   * The prompt's leading text as it appears in the JSON (escapes not decoded), at most the
   * requested number of bytes: message contents joined by "\n". Only hashed, so the raw form
   * serves as well as the decoded one.
   */
  prefix: string;
}

/** The body is not what the API accepts; `param` names the field when one is at fault. */
export class BodyError extends Error {
  readonly param: string | undefined;
  constructor(message: string, param?: string) {
    super(message);
    this.name = "BodyError";
    this.param = param;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

class Scanner {
  private readonly buf: Buffer;
  private readonly limit: number;
  pos = 0;
  readonly pieces: string[] = [];
  captured = 0;

  constructor(buf: Buffer, prefixBytes: number) {
    this.buf = buf;
    this.limit = prefixBytes;
  }

  fail(message: string, param?: string): never {
    throw new BodyError(`${message} (at byte ${this.pos})`, param);
  }

  ws(): number {
    const buf = this.buf;
    let i = this.pos;
    while (i < buf.length) {
      const c = buf[i] as number;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    this.pos = i;
    return i < buf.length ? (buf[i] as number) : -1;
  }

  expect(byte: number, what: string): void {
    if (this.ws() !== byte) this.fail(`malformed JSON: expected ${what}`);
    this.pos++;
  }

  /** Index of the quote that closes the string whose opening quote is at `open`. */
  stringEnd(open: number): number {
    const buf = this.buf;
    let j = buf.indexOf(QUOTE, open + 1);
    while (j >= 0) {
      let backslashes = 0;
      for (let k = j - 1; k > open && buf[k] === BACKSLASH; k--) backslashes++;
      if (backslashes % 2 === 0) return j;
      j = buf.indexOf(QUOTE, j + 1);
    }
    this.pos = open;
    return this.fail("malformed JSON: unterminated string");
  }

  /** Reads a string at pos and decodes it. */
  readString(): string {
    const open = this.pos;
    const end = this.stringEnd(open);
    this.pos = end + 1;
    const raw = this.buf.toString("utf8", open + 1, end);
    if (!raw.includes("\\")) return raw;
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      this.pos = open;
      return this.fail("malformed JSON: bad escape in string");
    }
  }

  /** Skips a string at pos, keeping its first bytes as part of the prompt prefix. */
  captureString(): void {
    const open = this.pos;
    const end = this.stringEnd(open);
    this.pos = end + 1;
    const room = this.limit - this.captured;
    if (room <= 0) return;
    let stop = Math.min(end, open + 1 + room);
    // Never cut a multi-byte UTF-8 character in half: back up to its first byte.
    while (stop < end && stop > open + 1 && ((this.buf[stop] as number) & 0xc0) === 0x80) stop--;
    if (this.pieces.length > 0) {
      this.pieces.push("\n");
      this.captured++;
    }
    this.pieces.push(this.buf.toString("utf8", open + 1, stop));
    this.captured += stop - open - 1;
  }

  get full(): boolean {
    return this.captured >= this.limit;
  }

  /** Skips any JSON value at pos. */
  skipValue(): void {
    const c = this.ws();
    if (c === QUOTE) {
      this.pos = this.stringEnd(this.pos) + 1;
      return;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      this.skipNested();
      return;
    }
    this.skipScalar();
  }

  private skipNested(): void {
    const buf = this.buf;
    let depth = 0;
    let i = this.pos;
    while (i < buf.length) {
      const c = buf[i] as number;
      if (c === QUOTE) {
        i = this.stringEnd(i) + 1;
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) {
          this.pos = i + 1;
          return;
        }
      }
      i++;
    }
    this.pos = i;
    this.fail("malformed JSON: unterminated object or array");
  }

  private skipScalar(): void {
    const buf = this.buf;
    const start = this.pos;
    let i = start;
    while (i < buf.length) {
      const c = buf[i] as number;
      // Letters, digits, sign, point: true/false/null and numbers end at anything else.
      const isScalarByte =
        (c >= 0x30 && c <= 0x39) ||
        (c >= 0x61 && c <= 0x7a) ||
        c === 0x45 || // E of an exponent
        c === 0x2d ||
        c === 0x2b ||
        c === 0x2e;
      if (!isScalarByte) break;
      i++;
    }
    const token = buf.toString("latin1", start, i);
    if (
      !(
        token === "true" ||
        token === "false" ||
        token === "null" ||
        /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(token)
      )
    )
      this.fail("malformed JSON: unexpected value");
    this.pos = i;
  }

  /**
   * Walks an object at pos, calling `onKey` for each key with pos at its value; onKey must
   * consume the value.
   */
  object(onKey: (key: string) => void): void {
    this.expect(OPEN_BRACE, "an object");
    if (this.ws() === CLOSE_BRACE) {
      this.pos++;
      return;
    }
    for (;;) {
      if (this.ws() !== QUOTE) this.fail("malformed JSON: expected a key");
      const key = this.readString();
      this.expect(COLON, "':'");
      this.ws();
      onKey(key);
      const c = this.ws();
      this.pos++;
      if (c === COMMA) continue;
      if (c === CLOSE_BRACE) return;
      this.pos--;
      this.fail("malformed JSON: expected ',' or '}'");
    }
  }

  /** Walks an array at pos, calling `onItem` with pos at each element; onItem must consume it. */
  array(onItem: () => void): void {
    this.expect(OPEN_BRACKET, "an array");
    if (this.ws() === CLOSE_BRACKET) {
      this.pos++;
      return;
    }
    for (;;) {
      this.ws();
      onItem();
      const c = this.ws();
      this.pos++;
      if (c === COMMA) continue;
      if (c === CLOSE_BRACKET) return;
      this.pos--;
      this.fail("malformed JSON: expected ',' or ']'");
    }
  }

  peek(): number {
    return this.ws();
  }

  /** A prompt-like value: a string, or an array whose strings are prompts (token ids are skipped). */
  prompt(): void {
    const c = this.peek();
    if (c === QUOTE && !this.full) this.captureString();
    else if (c === OPEN_BRACKET && !this.full)
      this.array(() => {
        if (this.peek() === QUOTE && !this.full) this.captureString();
        else this.skipValue();
      });
    else this.skipValue();
  }

  /** Chat content: a string, or parts of which the text parts count. */
  content(): void {
    const c = this.peek();
    if (c === QUOTE && !this.full) this.captureString();
    else if (c === OPEN_BRACKET && !this.full)
      this.array(() => {
        if (this.peek() !== OPEN_BRACE || this.full) {
          this.skipValue();
          return;
        }
        this.object((key) => {
          if (key === "text" && this.peek() === QUOTE && !this.full) this.captureString();
          else this.skipValue();
        });
      });
    else this.skipValue();
  }

  messages(): void {
    if (this.peek() !== OPEN_BRACKET || this.full) {
      this.skipValue();
      return;
    }
    this.array(() => {
      if (this.peek() !== OPEN_BRACE || this.full) {
        this.skipValue();
        return;
      }
      this.object((key) => {
        if (key === "content") this.content();
        else this.skipValue();
      });
    });
  }
}

/** Scans a request body; throws BodyError when it is not a JSON object or "model" is not a string. */
export function scanBody(body: Buffer, prefixBytes: number): ScannedBody {
  const s = new Scanner(body, Math.max(0, prefixBytes));
  let model: string | undefined;
  if (s.peek() !== OPEN_BRACE) s.fail("the request body must be a JSON object");
  s.object((key) => {
    if (key === "model") {
      if (s.peek() !== QUOTE) s.fail('"model" must be a string', "model");
      model = s.readString();
    } else if (key === "prompt" || key === "input") s.prompt();
    else if (key === "messages") s.messages();
    else s.skipValue();
  });
  if (s.peek() !== -1) s.fail("malformed JSON: unexpected data after the object");
  return { model, prefix: s.pieces.join("") };
}
