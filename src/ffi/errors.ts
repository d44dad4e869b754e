// errors.ts - rd_status codes as one typed error carrying the status name and rd_last_error().
import { lib } from "./symbols.ts";

export const Status = {
  RD_OK: 0,
  RD_ERR_INVALID_ARG: 1,
  RD_ERR_IO: 2,
  RD_ERR_FORMAT: 3,
  RD_ERR_MISMATCH: 4,
  RD_ERR_CONTEXT_FULL: 5,
  RD_ERR_DECODE: 6,
  RD_ERR_GRAMMAR: 7,
  RD_ERR_CANCELLED: 8,
  RD_ERR_STATE: 9,
  RD_ERR_BACKEND: 10,
  RD_ERR_NO_MEMORY: 11,
  RD_ERR_INTERNAL: 12, // llama.cpp or the C++ library threw; the session must be prefilled again
} as const;

export type StatusName = keyof typeof Status;

const names = Object.fromEntries(Object.entries(Status).map(([k, v]) => [v, k])) as Record<number, StatusName>;

export class NativeError extends Error {
  override name = "NativeError";
  constructor(
    readonly status: number,
    readonly code: StatusName | "RD_ERR_UNKNOWN",
    message: string,
  ) {
    super(message);
  }
}

/** Throw a NativeError for a failed status, with this thread's rd_last_error() message. */
export function check(status: number, what: string): void {
  if (status === Status.RD_OK) return;
  const detail = String(lib().rd_last_error() ?? "");
  const code = names[status] ?? "RD_ERR_UNKNOWN";
  throw new NativeError(status, code, detail ? `${what}: ${detail}` : `${what} failed (${code})`);
}

/** The error a closed handle throws instead of passing a stale pointer to C. */
export function closedError(kind: string): NativeError {
  return new NativeError(Status.RD_ERR_STATE, "RD_ERR_STATE", `${kind} is closed`);
}
