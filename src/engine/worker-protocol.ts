// worker-protocol.ts - the messages between the engine (main thread) and a slot worker
// (slot-worker.ts), and failures as they cross: a NativeError keeps its status and code.
import { NativeError, type StatusName } from "../ffi/errors.ts";
import type { ModelParams } from "../ffi/model.ts";
import type { SamplerParams } from "../ffi/sampler.ts";
import type { SessionParams, StepOutput, TokenLogprob } from "../ffi/session.ts";
import { EngineError } from "./errors.ts";

export type ToWorker =
  | { t: "load"; model: string; modelParams: ModelParams; drafter: string | null }
  | { t: "open"; model: number; drafter: number | null; params: SessionParams; cancel: SharedArrayBuffer }
  /** promptLogprobs: score the prompt first (that many alternatives per token); null = no */
  | { t: "gen"; gen: number; prompt: number[]; maxTokens: number; sampler: SamplerParams; draft: boolean; promptLogprobs: number | null }
  | { t: "close" };

export interface WireError {
  status: number; // rd_status, or -1 for a failure outside native code
  code: string;
  message: string;
}

export type FromWorker =
  /** ownership of both pointers passes to the receiver */
  | { t: "loaded"; model: number; drafter: number | null }
  | { t: "load-failed"; error: WireError }
  | { t: "ready"; session: number; nCtx: number; flashAttn: boolean }
  | { t: "open-failed"; error: WireError }
  | { t: "prompt-logprobs"; gen: number; logprobs: TokenLogprob[] }
  | { t: "prefilled"; gen: number; ms: number }
  /** finish: "stop"/"length" on the last step; wallMs: the step's time in this worker */
  | { t: "step"; gen: number; out: StepOutput; finish: "stop" | "length" | null; wallMs: number }
  /** the last message of every generation: reason says how it ended */
  | { t: "end"; gen: number; reason: "done" | "cancelled" | "length" | "error"; error?: WireError; last?: StepOutput }
  | { t: "closed" };

/** A failure in the worker, ready to post. */
export function toWire(e: unknown): WireError {
  if (e instanceof NativeError) return { status: e.status, code: e.code, message: e.message };
  return { status: -1, code: "internal", message: e instanceof Error ? e.message : String(e) };
}

/** A worker's load/open failure as the caller would have seen it on this thread. */
export function fromWire(e: WireError): Error {
  return e.status >= 0 ? new NativeError(e.status, e.code as StatusName, e.message) : new EngineError("internal", e.message);
}
