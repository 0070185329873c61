// Reads just enough of an OpenAI request body to route it: the top-level "model" string and
// the first bytes of the prompt (`prompt`, `input`, or the messages' contents in order),
// without JSON.parse. The scan walks the structure from the start only until the prefix is
// read; then it looks for the model from the end (the last unescaped `"model"` key whose
// members run to the closing brace of the top-level object). Strings it does walk over are
// skipped with Buffer.indexOf (memchr). So a 220 KB agent prompt costs its first few hundred
// bytes and its last few, not its text: about a tenth of a JSON.parse of it (bench/router.ts).
// The body is forwarded to the engine byte for byte, and the engine validates it fully; what
// this scanner rejects is what it must see to route: an object at the top, well-formed
// structure around the keys it reads, a model string.

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
const interestingKeys = ["model", "prompt", "input", "messages", "content", "text"];

class Scanner {
  private readonly buf: Buffer;
  private readonly limit: number;
  pos = 0;
  readonly pieces: string[] = [];
  captured = 0;
  model: string | undefined;
  private triedTail = false;

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
    if (this.full && !this.triedTail) this.tryTail();
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
    const c = buf[start];
    if (c === 0x74 /* t */ && this.literal("true")) return;
    if (c === 0x66 /* f */ && this.literal("false")) return;
    if (c === 0x6e /* n */ && this.literal("null")) return;
    // A number: digits, sign, point, exponent. Its finer grammar is left to the engine.
    let i = start;
    while (i < buf.length) {
      const b = buf[i] as number;
      if (!((b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2b || b === 0x2e || b === 0x65 || b === 0x45))
        break;
      i++;
    }
    if (i === start || !(c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)))
      this.fail("malformed JSON: unexpected value");
    this.pos = i;
  }

  /** Consumes `word` at pos when the bytes there spell it and end there. */
  private literal(word: string): boolean {
    const buf = this.buf;
    const p = this.pos;
    for (let k = 0; k < word.length; k++) if (buf[p + k] !== word.charCodeAt(k)) return false;
    const after = buf[p + word.length];
    if (after !== undefined && ((after >= 0x61 && after <= 0x7a) || (after >= 0x30 && after <= 0x39)))
      return false;
    this.pos = p + word.length;
    return true;
  }

  /**
   * Reads an object key at pos. Keys the scanner acts on come back as themselves; any other
   * key as "" without being decoded (most keys of a request are of no interest).
   */
  readKey(): string {
    const open = this.pos;
    const end = this.stringEnd(open);
    const len = end - open - 1;
    for (const key of interestingKeys) {
      if (key.length !== len) continue;
      let same = true;
      for (let k = 0; k < len && same; k++) same = this.buf[open + 1 + k] === key.charCodeAt(k);
      if (same) {
        this.pos = end + 1;
        return key;
      }
    }
    // An escaped spelling of an interesting key ("\u006dodel") is still that key.
    const backslash = this.buf.indexOf(BACKSLASH, open + 1);
    if (backslash >= 0 && backslash < end) {
      const decoded = this.readString();
      return interestingKeys.includes(decoded) ? decoded : "";
    }
    this.pos = end + 1;
    return "";
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
      const key = this.readKey();
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

  /**
   * Once the prefix is read, nothing before the model needs reading: the last `"model"` key
   * after here is taken if the text from it to the end is a list of members closing the
   * top-level object (a key nested deeper would meet a second closing brace). A quote inside
   * a JSON string is always escaped, so an unescaped `"model"` followed by ':' is a key.
   * Throws Shortcut with the answer; returns to go on scanning when there is none.
   */
  private tryTail(): void {
    this.triedTail = true;
    const buf = this.buf;
    for (let at = buf.lastIndexOf(modelKey); at > this.pos; at = buf.lastIndexOf(modelKey, at - 1)) {
      if (buf[at - 1] === BACKSLASH) continue;
      const tail = new Scanner(buf, 0);
      tail.triedTail = true; // the tail is walked, not searched
      tail.pos = at;
      try {
        if (tail.closesTopLevel()) throw new Shortcut(tail.model);
      } catch (error) {
        if (error instanceof Shortcut) throw error;
      }
    }
    if (this.model !== undefined) throw new Shortcut(this.model);
  }

  /** `key: value (, key: value)* }` then the end of the body, noting a "model". */
  private closesTopLevel(): boolean {
    for (;;) {
      if (this.ws() !== QUOTE) return false;
      const key = this.readKey();
      this.expect(COLON, "':'");
      if (key === "model") {
        if (this.ws() !== QUOTE) return false;
        this.model = this.readString();
      } else this.skipValue();
      const c = this.ws();
      this.pos++;
      if (c === COMMA) continue;
      return c === CLOSE_BRACE && this.ws() === -1;
    }
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

/** The answer found before the end of the scan. */
class Shortcut {
  readonly model: string | undefined;
  constructor(model: string | undefined) {
    this.model = model;
  }
}

const modelKey = Buffer.from('"model"');

/**
 * Scans a request body; throws BodyError when it is not a JSON object or "model" is not a
 * string. Once the prompt prefix is read the rest is only searched for the model (see
 * tryTail), so text between the two is not validated here: the engine does that.
 */
export function scanBody(body: Buffer, prefixBytes: number): ScannedBody {
  const s = new Scanner(body, Math.max(0, prefixBytes));
  if (s.peek() !== OPEN_BRACE) s.fail("the request body must be a JSON object");
  try {
    s.object((key) => {
      if (key === "model") {
        if (s.peek() !== QUOTE) s.fail('"model" must be a string', "model");
        s.model = s.readString();
      } else if (key === "prompt" || key === "input") s.prompt();
      else if (key === "messages") s.messages();
      else s.skipValue();
    });
  } catch (error) {
    if (error instanceof Shortcut) return { model: error.model, prefix: s.pieces.join("") };
    throw error;
  }
  if (s.peek() !== -1) s.fail("malformed JSON: unexpected data after the object");
  return { model: s.model, prefix: s.pieces.join("") };
}
