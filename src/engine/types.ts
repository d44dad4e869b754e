// types.ts - the engine contract between the HTTP gateway / CLI and the native library.
// Field names of SamplerParams follow the OpenAI wire names where one exists.

export interface SamplerParams {
  temperature: number; // <= 0 = greedy
  top_k: number; // 0 = off
  top_p: number; // 1 = off
  min_p: number; // 0 = off
  seed: number | null; // null = random
  repeat_penalty: number; // 1 = off
  presence_penalty: number;
  frequency_penalty: number;
  logit_bias: Record<number, number>; // token id -> bias added to the logit
  grammar: string | null; // GBNF
  ignore_eos: boolean;
  n_probs: number; // top log-probs per token to report, 0..20
}

export const defaultSampler: SamplerParams = {
  temperature: 0,
  top_k: 0,
  top_p: 1,
  min_p: 0,
  seed: null,
  repeat_penalty: 1,
  presence_penalty: 0,
  frequency_penalty: 0,
  logit_bias: {},
  grammar: null,
  ignore_eos: false,
  n_probs: 0,
};

export interface GenerateRequest {
  prompt: number[]; // token ids, BOS included when the model wants it
  maxTokens: number;
  sampler: SamplerParams;
  draft: boolean; // false = plain autoregressive decoding
  signal?: AbortSignal; // abort = cancel in native code, the iterator ends with finish "cancelled"
}

export interface TokenLogprob {
  token: number;
  logprob: number;
  top: { token: number; logprob: number }[];
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
}
