// embed.ts - an embedder (rd_embedder): a llama context of its own that turns one input's
// tokens into a pooled, unit-length vector. Used by one thread at a time (the engine's embedding
// worker); cancelEmbedder() may be called from any thread while another embeds.
import { type Pointer } from "bun:ffi";
import { check } from "./errors.ts";
import { Handle } from "./handle.ts";
import type { Model } from "./model.ts";
import { Struct } from "./structs.ts";
import { lib } from "./symbols.ts";

/** RD_POOLING_*; MODEL: the GGUF's pooling type when it names one, else MEAN. */
export const Pooling = { MODEL: -1, MEAN: 1, CLS: 2, LAST: 3 } as const;
export type PoolingValue = (typeof Pooling)[keyof typeof Pooling];

export interface EmbedderParams {
  nCtx?: number; // longest input, tokens; 0 = 4096 capped at the model's train ctx
  nThreads?: number; // 0 = half the hardware threads
  pooling?: PoolingValue; // default MODEL
}

export class Embedder extends Handle {
  readonly nCtx: number;
  readonly nEmbd: number;
  readonly pooling: PoolingValue;

  private constructor(p: Pointer, owners: Model[]) {
    super(p, "Embedder", owners);
    const L = lib();
    this.nCtx = L.rd_embedder_n_ctx(p);
    this.nEmbd = L.rd_embedder_n_embd(p);
    this.pooling = L.rd_embedder_pooling(p) as PoolingValue;
  }

  protected free(p: Pointer): void {
    lib().rd_embedder_free(p);
  }

  /** An embedder on a model: a JS handle is tracked (closing it closes this first); a raw
   *  pointer (another thread's model) is borrowed and must outlive the embedder. */
  static open(model: Model | Pointer, params: EmbedderParams = {}): Embedder {
    const L = lib();
    const p = new Struct("rd_embedder_params");
    L.rd_embedder_default_params(p.bytes);
    if (params.nCtx !== undefined) p.set("n_ctx", params.nCtx);
    if (params.nThreads !== undefined) p.set("n_threads", params.nThreads);
    if (params.pooling !== undefined) p.set("pooling", params.pooling);
    const out = new BigUint64Array(1);
    check(L.rd_embedder_init(typeof model === "number" ? model : model.ptr, p.bytes, out), "creating embedder");
    return new Embedder(Number(out[0]) as Pointer, typeof model === "number" ? [] : [model]);
  }

  /** One input's embedding (nEmbd floats, unit length). Throws NativeError: RD_ERR_INVALID_ARG
   *  (empty, a token outside the vocabulary), RD_ERR_CONTEXT_FULL (longer than nCtx),
   *  RD_ERR_CANCELLED. */
  embed(tokens: ArrayLike<number>): Float32Array {
    const ids = Int32Array.from(tokens);
    const out = new Float32Array(this.nEmbd);
    check(lib().rd_embedder_embed(this.ptr, ids, ids.length, out), "embedding");
    return out;
  }
}

/** Cancel an embedder another thread runs, given its pointer (thread-safe in C). */
export function cancelEmbedder(p: Pointer): void {
  lib().rd_embedder_cancel(p);
}
