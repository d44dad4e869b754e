// errors.ts - what the engine throws to the gateway and the CLI. EngineError.code says which
// HTTP status fits (400 for the request's fault, 503 while shutting down, 500 otherwise);
// QueueFullError means 429.
import { Status } from "../ffi/errors.ts";

export type EngineErrorCode = "context_length_exceeded" | "invalid_grammar" | "invalid_request" | "shutting_down" | "internal";

export class EngineError extends Error {
  override name = "EngineError";
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** The engine error for a failed rd_status (from prefill or a step). */
  static fromStatus(status: number, message: string): EngineError {
    switch (status) {
      case Status.RD_ERR_CONTEXT_FULL: return new EngineError("context_length_exceeded", message);
      case Status.RD_ERR_GRAMMAR: return new EngineError("invalid_grammar", message);
      case Status.RD_ERR_INVALID_ARG: return new EngineError("invalid_request", message);
      default: return new EngineError("internal", message);
    }
  }
}

/** Every slot is busy and the wait queue holds queueSize requests already, or (retryAfterS set)
 *  the prefill queued ahead would keep a new request waiting longer than the engine allows. */
export class QueueFullError extends Error {
  override name = "QueueFullError";
  constructor(
    readonly queueSize: number,
    message = `${queueSize} requests are already waiting for a slot`,
    readonly retryAfterS = 1,
  ) {
    super(message);
  }
}
