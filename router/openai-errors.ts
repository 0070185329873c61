// Errors in the body shape OpenAI's API (and its client libraries) use:
// {"error": {"message", "type", "param", "code"}}. The type follows OpenAI's families; the
// code says precisely what happened, for clients and for the requests_total metric.

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "rate_limit_error"
  | "server_error";

export interface RouterError {
  status: number;
  type: ErrorType;
  code: string;
  message: string;
  param?: string | null;
  /** Seconds, for 429 and 503. */
  retryAfter?: number;
}

export function errorBody(e: RouterError): string {
  return JSON.stringify({
    error: { message: e.message, type: e.type, param: e.param ?? null, code: e.code },
  });
}

export const errors = {
  malformed: (message: string, param?: string): RouterError => ({
    status: 400,
    type: "invalid_request_error",
    code: "invalid_request",
    message,
    param: param ?? null,
  }),
  missingModel: (): RouterError => ({
    status: 400,
    type: "invalid_request_error",
    code: "missing_model",
    message: 'the request body has no "model"; name one of the models GET /v1/models lists',
    param: "model",
  }),
  unknownModel: (model: string, known: readonly string[]): RouterError => ({
    status: 404,
    type: "invalid_request_error",
    code: "model_not_found",
    message: `the model ${JSON.stringify(model.slice(0, 200))} does not exist; this router serves ${known.join(", ") || "no model"}`,
    param: "model",
  }),
  tooLarge: (limit: number): RouterError => ({
    status: 413,
    type: "invalid_request_error",
    code: "request_too_large",
    message: `the request body is larger than ${limit} bytes`,
  }),
  badKey: (): RouterError => ({
    status: 401,
    type: "authentication_error",
    code: "invalid_api_key",
    message: "missing or invalid API key: send Authorization: Bearer <key>",
  }),
  keysNotLoaded: (): RouterError => ({
    status: 503,
    type: "server_error",
    code: "api_keys_unavailable",
    message: "the router has not loaded its API keys yet",
    retryAfter: 1,
  }),
  notFound: (method: string, path: string): RouterError => ({
    status: 404,
    type: "invalid_request_error",
    code: "not_found",
    message: `no route for ${method} ${path.slice(0, 200)}`,
  }),
  methodNotAllowed: (method: string, path: string): RouterError => ({
    status: 405,
    type: "invalid_request_error",
    code: "method_not_allowed",
    message: `${method} is not allowed on ${path.slice(0, 200)}`,
  }),
  upstream: (status: 502 | 504, message: string): RouterError => ({
    status,
    type: "server_error",
    code: status === 504 ? "upstream_timeout" : "upstream_error",
    message,
  }),
} as const;
