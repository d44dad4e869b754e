// errors.ts - the one API error type and the one onError handler: every failure leaves the
// server as {"error": {"message", "type", "param", "code"}} with the status OpenAI would use.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { z } from "zod";
import { EngineError, QueueFullError } from "../engine/errors.ts";

export type ErrorType = "invalid_request_error" | "rate_limit_error" | "server_error";

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 408 | 413 | 415 | 429 | 500 | 502 | 503 | 504,
    message: string,
    readonly type: ErrorType = status >= 500 ? "server_error" : status === 429 ? "rate_limit_error" : "invalid_request_error",
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {}, // besides the status's own (STATUS_HEADERS)
  ) {
    super(message);
  }

  static invalid(message: string, param: string | null = null, code: string | null = "invalid_value"): ApiError {
    return new ApiError(400, message, "invalid_request_error", code, param);
  }

  get body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** OpenAI-style parameter path: messages[0].content. */
export function paramPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

/** The first zod issue as a 400 naming its parameter. */
export function fromZod(error: z.ZodError): ApiError {
  const issue = error.issues[0]!;
  const param = paramPath(issue.path);
  const message = param ? `Invalid '${param}': ${issue.message}` : `Invalid request: ${issue.message}`;
  return ApiError.invalid(message, param || null, issue.code === "invalid_type" && issue.input === undefined ? "missing_required_parameter" : "invalid_value");
}

/** Engine failures as API errors: the request's fault is a 400, a full queue a 429, a server
 *  that is stopping a 503. */
export function fromEngine(err: unknown): ApiError | null {
  if (err instanceof QueueFullError) {
    return new ApiError(429, `The server is busy (${err.message}), retry shortly`, "rate_limit_error", "queue_full", null,
      { "Retry-After": String(err.retryAfterS) });
  }
  if (!(err instanceof EngineError)) return null;
  switch (err.code) {
    case "shutting_down": return shuttingDown();
    case "context_length_exceeded": return new ApiError(400, err.message, "invalid_request_error", err.code, "messages");
    case "invalid_grammar": return new ApiError(400, err.message, "invalid_request_error", err.code, "response_format");
    case "invalid_request": return new ApiError(400, err.message, "invalid_request_error", "invalid_value");
    default:
      console.error("[server] engine error:", err.message);
      return new ApiError(500, err.message, "server_error", "internal_error");
  }
}

export function shuttingDown(): ApiError {
  return new ApiError(503, "The server is shutting down", "server_error", "server_shutting_down");
}

/** Any thrown value as the API error the client sees. Unknown errors are logged, not leaked. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const engine = fromEngine(err);
  if (engine) return engine;
  if (err instanceof HTTPException) return new ApiError(err.status >= 500 ? 500 : 400, err.message || `HTTP ${err.status}`);
  console.error("[server] internal error:", err);
  return new ApiError(500, "Internal server error", "server_error", "internal_error");
}

/** Headers some statuses carry: how to authenticate, when to retry, that the connection ends
 *  (a 408 or 413 may come while the body is still arriving: the rest of it is not read). */
const STATUS_HEADERS: Partial<Record<ApiError["status"], Record<string, string>>> = {
  401: { "WWW-Authenticate": "Bearer" },
  408: { Connection: "close" },
  413: { Connection: "close" },
  429: { "Retry-After": "1" },
};

export function errorResponse(c: Context, err: ApiError): Response {
  return c.json(err.body, err.status, { ...STATUS_HEADERS[err.status], ...err.headers });
}

/** Hono's app.onError. */
export function onError(err: unknown, c: Context): Response {
  return errorResponse(c, toApiError(err));
}
