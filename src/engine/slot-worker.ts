// slot-worker.ts - a Bun Worker that owns one engine slot's rd_session and runs its prefill and
// steps, so long native calls never block the HTTP event loop. The model and drafter belong to
// the main thread (same process, same library mapping): only their pointers cross over. A worker
// of this kind also loads them ("load"), so that long read is off the main thread too.
// Cancellation: the main thread writes the generation id into `cancel` and calls
// rd_session_cancel(); the flag covers the gaps between native calls, the native cancel the calls.
import { Drafter } from "../ffi/drafter.ts";
import { NativeError, Status } from "../ffi/errors.ts";
import { Model } from "../ffi/model.ts";
import { Session, Finish, type StepOutput } from "../ffi/session.ts";
import type { Pointer } from "../ffi/symbols.ts";
import { toWire, type FromWorker, type ToWorker } from "./worker-protocol.ts";

export type { WireError } from "./worker-protocol.ts"; // embed-worker.ts and embeddings.ts still import it from here

let session: Session | null = null;
let cancelFlag: Int32Array<ArrayBufferLike> = new Int32Array(1);

const post = (m: FromWorker) => postMessage(m);

function run(job: Extract<ToWorker, { t: "gen" }>): void {
  const s = session!;
  const { gen } = job;
  const cancelled = () => Atomics.load(cancelFlag, 0) === gen;
  const t0 = performance.now();
  try {
    if (job.promptLogprobs !== null) {
      const logprobs = s.promptLogprobs(job.prompt, job.promptLogprobs);
      if (cancelled()) return post({ t: "end", gen, reason: "cancelled" }); // scoring clears the native flag too
      post({ t: "prompt-logprobs", gen, logprobs });
    }
    if (job.maxTokens === 0) return post({ t: "end", gen, reason: "length" });
    s.prefill(job.prompt, job.sampler);
  } catch (e) {
    if (e instanceof NativeError && e.status === Status.RD_ERR_CANCELLED) return post({ t: "end", gen, reason: "cancelled" });
    return post({ t: "end", gen, reason: "error", error: toWire(e) });
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
      return post({ t: "end", gen, reason: "error", error: toWire(e), last: s.lastStep() });
    }
    remaining -= out.tokens.length;
    const finish =
      out.finish === Finish.EOS || out.finish === Finish.NO_TOKEN
        ? "stop"
        : out.finish === Finish.LENGTH || remaining <= 0 ? "length" : null;
    post({ t: "step", gen, out, finish, wallMs: performance.now() - ts });
    if (finish) return post({ t: "end", gen, reason: "done" });
    if (out.tokens.length === 0) {
      return post({ t: "end", gen, reason: "error", error: toWire(new Error("step emitted no tokens without finishing")) });
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
          return post({ t: "load-failed", error: toWire(e) });
        }
      }
      case "open":
        cancelFlag = new Int32Array(m.cancel);
        try {
          session = Session.open(m.model as Pointer, m.drafter as Pointer | null, m.params);
        } catch (e) {
          return post({ t: "open-failed", error: toWire(e) });
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
    if (m.t === "gen") post({ t: "end", gen: m.gen, reason: "error", error: toWire(e) });
    else throw e;
  }
};
