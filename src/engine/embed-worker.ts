// embed-worker.ts - a Bun Worker that owns the engine's rd_embedder and embeds one request's
// inputs at a time, so that model work never blocks the HTTP event loop (the pattern of
// slot-worker.ts). The model belongs to the main thread: only its pointer crosses over.
// Cancellation: the main thread writes the job id into `cancel` and calls rd_embedder_cancel();
// the flag covers the gaps between inputs, the native cancel the input being embedded.
import { Embedder, type EmbedderParams, type PoolingValue } from "../ffi/embed.ts";
import { NativeError, Status } from "../ffi/errors.ts";
import type { Pointer } from "../ffi/symbols.ts";
import type { WireError } from "./slot-worker.ts";

export type ToEmbedWorker =
  | { t: "open"; model: number; params: EmbedderParams; cancel: SharedArrayBuffer }
  | { t: "embed"; job: number; inputs: number[][] }
  | { t: "close" };

export type FromEmbedWorker =
  | { t: "ready"; embedder: number; nCtx: number; nEmbd: number; pooling: PoolingValue }
  | { t: "open-failed"; error: WireError }
  /** vectors: one per input, in order */
  | { t: "done"; job: number; vectors: Float32Array[] }
  /** index: the input that failed */
  | { t: "failed"; job: number; index: number; error: WireError }
  | { t: "cancelled"; job: number }
  | { t: "closed" };

let embedder: Embedder | null = null;
let cancelFlag: Int32Array<ArrayBufferLike> = new Int32Array(1);

const post = (m: FromEmbedWorker) => postMessage(m);

function wire(e: unknown): WireError {
  if (e instanceof NativeError) return { status: e.status, code: e.code, message: e.message };
  return { status: -1, code: "internal", message: e instanceof Error ? e.message : String(e) };
}

function run({ job, inputs }: Extract<ToEmbedWorker, { t: "embed" }>): void {
  const vectors: Float32Array[] = [];
  for (let i = 0; i < inputs.length; i++) {
    if (Atomics.load(cancelFlag, 0) === job) return post({ t: "cancelled", job });
    try {
      vectors.push(embedder!.embed(inputs[i]!));
    } catch (e) {
      if (e instanceof NativeError && e.status === Status.RD_ERR_CANCELLED) return post({ t: "cancelled", job });
      return post({ t: "failed", job, index: i, error: wire(e) });
    }
  }
  post({ t: "done", job, vectors });
}

self.onmessage = (ev: MessageEvent<ToEmbedWorker>) => {
  const m = ev.data;
  switch (m.t) {
    case "open":
      cancelFlag = new Int32Array(m.cancel);
      try {
        embedder = Embedder.open(m.model as Pointer, m.params);
      } catch (e) {
        return post({ t: "open-failed", error: wire(e) });
      }
      return post({ t: "ready", embedder: embedder.ptr, nCtx: embedder.nCtx, nEmbd: embedder.nEmbd, pooling: embedder.pooling });
    case "embed":
      try {
        return run(m);
      } catch (e) {
        return post({ t: "failed", job: m.job, index: 0, error: wire(e) });
      }
    case "close":
      embedder?.close();
      embedder = null;
      return post({ t: "closed" });
  }
};
