// Tokens without a tokenizer: a prompt's length is estimated at 4 characters a token (about
// what Llama and GPT tokenizers give for English), and its KV blocks are identified by a hash
// chain over the characters (or token ids) of each full block, as vLLM hashes block contents
// chained to the blocks before them. Equal prefixes give equal leading hashes, which is all the
// prefix cache needs.

export const charsPerToken = 4;

export interface Prompt {
  /** At least 1: a tokenizer adds a start token even to an empty text. */
  tokens: number;
  /** One hash per full block of the prompt, each covering the whole prefix up to its end. */
  blockHashes: number[];
  /** A hash of the whole prompt (seeds the generated text and embeddings). */
  digest: number;
}

const FNV_PRIME = 0x01000193;

/** Two 32-bit FNV-1a lanes folded into a 53-bit integer, so collisions are negligible. */
const fold = (a: number, b: number) => (a >>> 0) * 2 ** 21 + (b >>> 11);

/**
 * Hashes `length` units (characters or token ids, read by `at`) in blocks of `unitsPerBlock`,
 * snapshotting the running hash at the end of each full block.
 */
function hashChain(
  length: number,
  unitsPerBlock: number,
  at: (i: number) => number,
  seedA: number,
  seedB: number,
): { blockHashes: number[]; digest: number } {
  const blockHashes: number[] = [];
  let a = seedA;
  let b = seedB;
  for (let i = 0; i < length; i++) {
    const c = at(i);
    a = Math.imul(a ^ c, FNV_PRIME);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
    if ((i + 1) % unitsPerBlock === 0) blockHashes.push(fold(a, b));
  }
  return { blockHashes, digest: fold(a, b) };
}

export function textPrompt(text: string, blockSize: number): Prompt {
  const chain = hashChain(
    text.length,
    blockSize * charsPerToken,
    (i) => text.charCodeAt(i),
    0x811c9dc5,
    0x01234567,
  );
  return { tokens: Math.max(1, Math.ceil(text.length / charsPerToken)), ...chain };
}

/** A prompt given as token ids; the caller refuses an empty one. */
export function tokenIdsPrompt(ids: readonly number[], blockSize: number): Prompt {
  // Other seeds than for text, so that ids never share blocks with characters.
  const chain = hashChain(ids.length, blockSize, (i) => (ids[i] as number) | 0, 0x2c1b3c6d, 0x297a2d39);
  return { tokens: ids.length, ...chain };
}

/** How a chat template lays the messages out; a stand-in for the model's own template. */
export function renderChat(messages: readonly { role: string; content: string }[]): string {
  let out = "";
  for (const m of messages) out += `<|${m.role}|>\n${m.content}<|end|>\n`;
  return `${out}<|assistant|>\n`;
}

// Short English words, so generated text reads as text and runs near 4 characters a token.
const words =
  " the of and to in is for on that with as it at by from this be are or an was not but all can more one will has new its about also time very some most just over then into than only well"
    .split(/(?= )/)
    .filter((w) => w.length > 1);

/** The text of a sequence's n-th generated token: a fixed function of the sequence's seed. */
export function tokenText(seed: number, n: number): string {
  return words[(Math.imul(seed ^ n, 0x9e3779b1) >>> 0) % words.length] as string;
}
