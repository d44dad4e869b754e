// session.ts - one generation stream (rd_session): prefill, speculative/plain steps, cancel.
// Used by one thread at a time (the engine's slot worker); cancelSession() is the exception and
// may be called from any thread while another runs the session.
import { toArrayBuffer, type Pointer } from "bun:ffi";
import type { Drafter } from "./drafter.ts";
import { check } from "./errors.ts";
import { Handle } from "./handle.ts";
import type { Model } from "./model.ts";
import { samplerStruct, type SamplerParams } from "./sampler.ts";
import { Struct } from "./structs.ts";
import { lib } from "./symbols.ts";

export const RD_MAX_BEAMS = 16;
export const RD_MAX_BEAM_LENGTH = 16;
export const RD_MAX_PROBS = 20;
/** The most tokens one step can emit: the root plus a fully accepted beam. */
export const MAX_STEP_TOKENS = RD_MAX_BEAM_LENGTH + 1;

/** rd_finish. NO_TOKEN: nothing may follow (a complete grammar with end-of-generation banned, or
 *  every token banned); nothing is emitted for it, and it ends the generation like EOS. */
export const Finish = { NONE: 0, EOS: 1, LENGTH: 2, NO_TOKEN: 3 } as const;

export interface SessionParams {
  nCtx?: number; // 0 = 4096 capped at the model's train ctx
  nBatch?: number; // prefill chunk, tokens
  nThreads?: number; // 0 = half the hardware threads
  beamWidth?: number; // B
  beamLength?: number; // L
  flashAttn?: -1 | 0 | 1;
  kvF32?: boolean;
  adaptive?: boolean; // choose the draft length per step (default true); output is unchanged
  lazyHead?: boolean; // LM head only for the tree nodes the walk reaches (default true); output is unchanged
  lookup?: number; // context-copy beam, tokens at most (0 = off, default 16); output is unchanged
}

/** Floats per token in a step's log-prob buffer: the token's log-prob, then nProbs (id, logprob)
 *  pairs (redrafter.h, rd_session_step). */
export const logprobStride = (nProbs: number) => 1 + 2 * nProbs;

/** One emitted token's log-prob and the nProbs most likely tokens at its position. */
export interface TokenLogprob {
  token: number;
  logprob: number;
  top: { token: number; logprob: number }[];
}

/** One step's output; tokens and logprobs are copies owned by the caller. */
export interface StepOutput {
  tokens: number[];
  /** per token: [logprob, then nProbs (id, logprob) pairs]; null when nProbs = 0 */
  logprobs: Float32Array | null;
  finish: number; // Finish.*
  nDrafted: number;
  nTree: number;
  nAccepted: number;
  targetCalls: number;
  tDraftMs: number;
  tVerifyMs: number;
  tOtherMs: number;
  nHead: number; // tree nodes whose LM head ran
  tHeadMs: number; // of tVerifyMs: the session's own LM head
  nCopy: number; // of nDrafted: the context-copy beam's tokens
  nCopyAccepted: number; // of nAccepted: tokens only the copy beam proposed
}

type Owner = Model | Drafter;

export class Session extends Handle {
  readonly #nEmbd: number;
  readonly #out = new Int32Array(MAX_STEP_TOKENS);
  readonly #res = new Struct("rd_step_result");
  #logprobs: Float32Array | null = null;
  #nProbs = 0;

  private constructor(p: Pointer, owners: Owner[], nEmbd: number) {
    super(p, "Session", owners);
    this.#nEmbd = nEmbd;
  }

  protected free(p: Pointer): void {
    lib().rd_session_free(p);
  }

  /** Create a session on a model (and drafter, null = plain decoding). JS handles are tracked
   *  so closing them closes this session first; raw pointers (from another thread's handles)
   *  are borrowed and must outlive the session. */
  static open(model: Model | Pointer, drafter: Drafter | Pointer | null, params: SessionParams = {}): Session {
    const L = lib();
    const p = new Struct("rd_session_params");
    L.rd_session_default_params(p.bytes);
    if (params.nCtx !== undefined) p.set("n_ctx", params.nCtx);
    if (params.nBatch !== undefined) p.set("n_batch", params.nBatch);
    if (params.nThreads !== undefined) p.set("n_threads", params.nThreads);
    if (params.beamWidth !== undefined) p.set("beam_width", params.beamWidth);
    if (params.beamLength !== undefined) p.set("beam_length", params.beamLength);
    if (params.flashAttn !== undefined) p.set("flash_attn", params.flashAttn);
    if (params.kvF32 !== undefined) p.set("kv_f32", params.kvF32);
    if (params.adaptive !== undefined) p.set("adaptive", params.adaptive);
    if (params.lazyHead !== undefined) p.set("lazy_head", params.lazyHead);
    if (params.lookup !== undefined) p.set("lookup", params.lookup);
    const mp = typeof model === "number" ? model : model.ptr;
    const dp = drafter === null ? null : typeof drafter === "number" ? drafter : drafter.ptr;
    const out = new BigUint64Array(1);
    check(L.rd_session_init(mp, dp, p.bytes, out), "creating session");
    const owners = [model, drafter].filter((o): o is Owner => o !== null && typeof o !== "number");
    return new Session(Number(out[0]) as Pointer, owners, L.rd_model_n_embd(mp));
  }

  get nCtx(): number { return lib().rd_session_n_ctx(this.ptr); }
  get nPast(): number { return lib().rd_session_n_past(this.ptr); }
  get kvCells(): number { return lib().rd_session_kv_cells(this.ptr); }
  get flashAttn(): boolean { return lib().rd_session_flash_attn(this.ptr); }

  /** Clear the cache, set the sampler, decode the prompt. On failure the session is empty. */
  prefill(tokens: ArrayLike<number>, sampler: SamplerParams): void {
    const sp = samplerStruct(sampler);
    const ids = Int32Array.from(tokens);
    check(lib().rd_session_prefill(this.ptr, ids, ids.length, sp.bytes), "prefill");
    this.#nProbs = sampler.n_probs;
    const need = MAX_STEP_TOKENS * logprobStride(sampler.n_probs);
    this.#logprobs = sampler.n_probs > 0 && (this.#logprobs?.length ?? 0) < need ? new Float32Array(need) : this.#logprobs;
  }

  /** One decoding step emitting at most maxTokens tokens. Throws NativeError (RD_ERR_CANCELLED
   *  after cancel()); the counters of the failed step stay readable through lastStep(). */
  step(draft: boolean, maxTokens: number): StepOutput {
    const max = Math.min(maxTokens, MAX_STEP_TOKENS);
    const lp = this.#nProbs > 0 ? this.#logprobs : null;
    check(lib().rd_session_step(this.ptr, draft, max, this.#out, lp, this.#res.bytes), "step");
    return this.lastStep();
  }

  /** Test hook: verify the given beams (B*L ids, row-major) instead of drafting. */
  stepBeams(beams: ArrayLike<number>, B: number, L: number, maxTokens: number): StepOutput {
    const ids = Int32Array.from(beams);
    const max = Math.min(maxTokens, MAX_STEP_TOKENS);
    const lp = this.#nProbs > 0 ? this.#logprobs : null;
    check(lib().rd_session_step_beams(this.ptr, ids, B, L, max, this.#out, lp, this.#res.bytes), "step");
    return this.lastStep();
  }

  /** Scoring: per prompt token after the first, its log-prob and the nProbs likeliest tokens at
   *  its position, as a step reports them (same head, same log-softmax). Leaves the session
   *  empty: prefill again to generate. Throws NativeError (RD_ERR_CONTEXT_FULL past the context). */
  promptLogprobs(tokens: ArrayLike<number>, nProbs: number): TokenLogprob[] {
    const ids = Int32Array.from(tokens);
    const stride = logprobStride(nProbs);
    const out = new Float32Array(Math.max(0, ids.length - 1) * stride);
    check(lib().rd_session_prompt_logprobs(this.ptr, ids, ids.length, nProbs, out), "scoring the prompt");
    return decodeLogprobs(Array.from(ids.subarray(1)), out, nProbs);
  }

  /** The result of the last step call, also after a failure (counters of work done). */
  lastStep(): StepOutput {
    const r = this.#res;
    const n = Math.max(0, Math.min(r.get("n_tokens"), MAX_STEP_TOKENS));
    const stride = logprobStride(this.#nProbs);
    return {
      tokens: Array.from(this.#out.subarray(0, n)),
      logprobs: this.#nProbs > 0 && this.#logprobs ? this.#logprobs.slice(0, n * stride) : null,
      finish: r.get("finish"),
      nDrafted: r.get("n_drafted"),
      nTree: r.get("n_tree"),
      nAccepted: r.get("n_accepted"),
      targetCalls: r.get("target_calls"),
      tDraftMs: r.get("t_draft_ms"),
      tVerifyMs: r.get("t_verify_ms"),
      tOtherMs: r.get("t_other_ms"),
      nHead: r.get("n_head"),
      tHeadMs: r.get("t_head_ms"),
      nCopy: r.get("n_copy"),
      nCopyAccepted: r.get("n_copy_accepted"),
    };
  }

  /** Copy of the hidden state (d floats) the next step drafts from; null before a prefill. */
  hidden(): Float32Array | null {
    const h = lib().rd_session_hidden(this.ptr);
    if (!h) return null;
    return new Float32Array(toArrayBuffer(h, 0, this.#nEmbd * 4).slice(0));
  }

  cancel(): void {
    lib().rd_session_cancel(this.ptr);
  }
}

/** The log-probs of a step's tokens, decoded from its buffer; null when none were asked. */
export function stepLogprobs(out: StepOutput, nProbs: number): TokenLogprob[] | null {
  const lp = out.logprobs;
  if (!lp || nProbs <= 0) return null;
  return decodeLogprobs(out.tokens, lp, nProbs);
}

/** Rows of [logprob, then nProbs (id, logprob) pairs], one per token. */
function decodeLogprobs(tokens: number[], lp: Float32Array, nProbs: number): TokenLogprob[] {
  const stride = logprobStride(nProbs);
  return tokens.map((token, i) => {
    const row = i * stride;
    const top: TokenLogprob["top"] = [];
    for (let k = 0; k < nProbs; k++) top.push({ token: lp[row + 1 + 2 * k]!, logprob: lp[row + 2 + 2 * k]! });
    return { token, logprob: lp[row]!, top };
  });
}

/** Cancel a session owned by another thread, given its pointer (thread-safe in C). */
export function cancelSession(p: Pointer): void {
  lib().rd_session_cancel(p);
}
