// slot-worker.ts - a Bun Worker that owns one engine slot's rd_session and runs its prefill and
// steps, so long native calls never block the HTTP event loop. The model and drafter belong to
// the main thread (same process, same library mapping): only their pointers cross over. A worker
// of this kind also loads them ("load"), so that long read is off the main thread too.
// Cancellation: the main thread writes the generation id into `cancel` and calls
// rd_session_cancel(); the flag covers the gaps between native calls, the native cancel the calls.
import { Drafter } from "../ffi/drafter.ts";
import { NativeError, Status } from "../ffi/errors.ts";
import { Model, type ModelParams } from "../ffi/model.ts";
import { Session, Finish, type SessionParams, type StepOutput } from "../ffi/session.ts";
import type { Pointer } from "../ffi/symbols.ts";
import type { SamplerParams } from "./types.ts";

export type ToWorker =
  | { t: "load"; model: string; modelParams: ModelParams; drafter: string | null }
  | { t: "open"; model: number; drafter: number | null; params: SessionParams; cancel: SharedArrayBuffer }
  | { t: "gen"; gen: number; prompt: number[]; maxTokens: number; sampler: SamplerParams; draft: boolean }
  | { t: "close" };

export interface WireError {
  status: number;
  code: string;
  message: string;
}

export type FromWorker =
  /** ownership of both pointers passes to the receiver */
  | { t: "loaded"; model: number; drafter: number | null }
  | { t: "load-failed"; error: WireError }
  | { t: "ready"; session: number; nCtx: number; flashAttn: boolean }
  | { t: "open-failed"; error: WireError }
  | { t: "prefilled"; gen: number; ms: number }
  /** finish: "stop"/"length" on the last step; wallMs: the step's time in this worker */
  | { t: "step"; gen: number; out: StepOutput; finish: "stop" | "length" | null; wallMs: number }
  /** the last message of every generation: reason says how it ended */
  | { t: "end"; gen: number; reason: "done" | "cancelled" | "length" | "error"; error?: WireError; last?: StepOutput }
  | { t: "closed" };

let session: Session | null = null;
let cancelFlag: Int32Array<ArrayBufferLike> = new Int32Array(1);

const post = (m: FromWorker) => postMessage(m);

function wire(e: unknown): WireError {
  if (e instanceof NativeError) return { status: e.status, code: e.code, message: e.message };
  return { status: -1, code: "internal", message: e instanceof Error ? e.message : String(e) };
}

function run(job: Extract<ToWorker, { t: "gen" }>): void {
  const s = session!;
  const { gen } = job;
  const cancelled = () => Atomics.load(cancelFlag, 0) === gen;
  const t0 = performance.now();
  try {
    s.prefill(job.prompt, job.sampler);
  } catch (e) {
    if (e instanceof NativeError && e.status === Status.RD_ERR_CANCELLED) return post({ t: "end", gen, reason: "cancelled" });
    return post({ t: "end", gen, reason: "error", error: wire(e) });
  }
  // prefill clears the native flag, so a cancel that landed before it is only in ours
  if (cancelled()) return post({ t: "end", gen, reason: "cancelled" });
  post({ t: "prefilled", gen, ms: performance.now() - t0 });

  let remaining = job.maxTokens;
  for (;;) {
    if (cancelled()) return post({ t: "end", gen, reason: "cancelled" });
    const ts = performance.now();
    let out: StepOutput;
    try {
      out = s.step(job.draft, remaining);
    } catch (e) {
      const st = e instanceof NativeError ? e.status : -1;
      if (st === Status.RD_ERR_CANCELLED) return post({ t: "end", gen, reason: "cancelled", last: s.lastStep() });
      if (st === Status.RD_ERR_CONTEXT_FULL) return post({ t: "end", gen, reason: "length", last: s.lastStep() });
      return post({ t: "end", gen, reason: "error", error: wire(e), last: s.lastStep() });
    }
    remaining -= out.tokens.length;
    const finish =
      out.finish === Finish.EOS || out.finish === Finish.NO_TOKEN
        ? "stop"
        : out.finish === Finish.LENGTH || remaining <= 0 ? "length" : null;
    post({ t: "step", gen, out, finish, wallMs: performance.now() - ts });
    if (finish) return post({ t: "end", gen, reason: "done" });
    if (out.tokens.length === 0) {
      return post({ t: "end", gen, reason: "error", error: wire(new Error("step emitted no tokens without finishing")) });
    }
  }
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  try {
    switch (m.t) {
      case "load": {
        let model: Model | null = null;
        try {
          model = Model.load(m.model, m.modelParams);
          const drafter = m.drafter === null ? null : Drafter.load(m.drafter, model).detach();
          return post({ t: "loaded", model: model.detach(), drafter });
        } catch (e) {
          model?.close();
          return post({ t: "load-failed", error: wire(e) });
        }
      }
      case "open":
        cancelFlag = new Int32Array(m.cancel);
        try {
          session = Session.open(m.model as Pointer, m.drafter as Pointer | null, m.params);
        } catch (e) {
          return post({ t: "open-failed", error: wire(e) });
        }
        return post({ t: "ready", session: session.ptr, nCtx: session.nCtx, flashAttn: session.flashAttn });
      case "gen":
        return run(m);
      case "close":
        session?.close();
        session = null;
        return post({ t: "closed" });
    }
  } catch (e) {
    if (m.t === "gen") post({ t: "end", gen: m.gen, reason: "error", error: wire(e) });
    else throw e;
  }
};
