// types.ts - the engine contract between the HTTP gateway / CLI and the native library.

export { defaultSampler, type SamplerParams } from "../ffi/sampler.ts";
export type { TokenLogprob } from "../ffi/session.ts";
import type { TokenLogprob } from "../ffi/session.ts";
import type { SamplerParams } from "../ffi/sampler.ts";

export interface GenerateRequest {
  prompt: number[]; // token ids, BOS included when the model wants it
  maxTokens: number; // 0: nothing is generated (scoring: promptLogprobs), the end is "length"
  sampler: SamplerParams;
  promptLogprobs?: number; // score the prompt first, with this many alternatives per token (0..20)
  draft: boolean; // false = plain autoregressive decoding
  signal?: AbortSignal; // abort = cancel in native code, the iterator ends with finish "cancelled"
}

export interface StepStats {
  n_drafted: number;
  n_tree: number;
  n_accepted: number;
  target_calls: number;
  t_draft_ms: number;
  t_verify_ms: number;
  t_other_ms: number;
  n_head: number; // tree nodes whose LM head ran (n_tree unless the head runs on demand)
  t_head_ms: number; // of t_verify_ms: the session's own LM head (0 when llama.cpp's graph runs it)
  n_copy: number; // of n_drafted: the context-copy beam's tokens
  n_copy_accepted: number; // of n_accepted: tokens only the copy beam proposed
}

/** One engine step: the tokens it emitted, in order. */
export interface StepEvent {
  tokens: number[];
  logprobs: TokenLogprob[] | null; // when sampler.n_probs > 0 (or logprobs asked)
  finish: "stop" | "length" | "cancelled" | null; // "stop" = EOS; null = more to come
  stats: StepStats;
}

export interface ModelInfo {
  id: string; // model id exposed on /v1/models
  path: string;
  nCtx: number; // session context size
  nCtxTrain: number;
  nVocab: number;
  nEmbd: number;
  chatTemplate: string | null; // tokenizer.chat_template from the GGUF
  bosToken: string | null; // text of BOS/EOS (for template rendering)
  eosToken: string | null;
  addBos: boolean;
  drafter: string | null; // drafter path when speculation is available
  beamWidth: number;
  beamLength: number;
  lookup: number; // context-copy beam, tokens at most (0 = off)
  flashAttn: boolean;
  fim: { pre: number; suf: number; mid: number } | null; // fill-in-the-middle tokens, if the vocab has them
}
