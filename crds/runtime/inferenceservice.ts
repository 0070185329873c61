// What the operator reads of InferenceService at run time, apart from its schema (../inferenceservice.ts).

/** Nodes one replica may span: pipeline stages beyond this cost more in bubbles than they hold. */
export const MAX_NODES_PER_REPLICA = 16;

// One source for both the CEL rule and Node, so the two can never disagree. No backslashes or
// quotes: the text is pasted into a CEL string literal as is.
export const MODEL_URI_PATTERN =
  "^(hf://[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*(@[-A-Za-z0-9_./]+)?" +
  "|s3://[a-z0-9][-a-z0-9.]{1,61}[a-z0-9](/[-A-Za-z0-9_.=+/]*)?" +
  "|pvc://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[-A-Za-z0-9_.=+/]*)?)$";
export const modelUriRegExp = new RegExp(MODEL_URI_PATTERN);

/** The parts of a model URI; undefined when it is not one. */
export function parseModelUri(
  uri: string,
):
  | { scheme: "hf"; repo: string; revision: string | undefined }
  | { scheme: "s3"; bucket: string; path: string }
  | { scheme: "pvc"; claim: string; path: string }
  | undefined {
  if (!modelUriRegExp.test(uri)) return undefined;
  const [scheme, rest = ""] = uri.split("://", 2) as [string, string | undefined];
  const slash = rest.indexOf("/");
  const head = slash < 0 ? rest : rest.slice(0, slash);
  const tail = slash < 0 ? "" : rest.slice(slash + 1);
  if (scheme === "hf") {
    const [repo = rest, revision] = rest.split("@", 2);
    return { scheme, repo, revision };
  }
  if (scheme === "s3") return { scheme, bucket: head, path: tail };
  return { scheme: "pvc", claim: head, path: tail };
}
