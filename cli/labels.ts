// The labels the controllers put on their children, by which stackctl finds them again.
export { labels } from "../crds/labels.ts";

/** The value of the kind label for a kind of the API. */
export const kindLabelValue = (kind: string): string => kind.toLowerCase();
