// sampler.ts - the sampler settings a session decodes with (rd_sampler_params), as the engine and
// the gateway pass them. Field names follow the OpenAI wire names where one exists.
import { Struct } from "./structs.ts";
import { cstr, lib } from "./symbols.ts";

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

/** The native params struct; the arrays and the grammar it points to live as long as it does. */
export function samplerStruct(s: SamplerParams): Struct<"rd_sampler_params"> {
  const p = new Struct("rd_sampler_params");
  lib().rd_sampler_default_params(p.bytes);
  p.set("temperature", s.temperature)
    .set("top_k", s.top_k)
    .set("top_p", s.top_p)
    .set("min_p", s.min_p)
    .set("seed", s.seed === null ? 0xffffffff : s.seed)
    .set("repeat_penalty", s.repeat_penalty)
    .set("presence_penalty", s.presence_penalty)
    .set("frequency_penalty", s.frequency_penalty)
    .set("ignore_eos", s.ignore_eos)
    .set("n_probs", s.n_probs);
  const bias = Object.entries(s.logit_bias);
  if (bias.length > 0) {
    p.setPtr("logit_bias_tokens", Int32Array.from(bias, ([k]) => Number(k)))
      .setPtr("logit_bias_values", Float32Array.from(bias, ([, v]) => v))
      .set("n_logit_bias", bias.length);
  }
  if (s.grammar !== null) p.setPtr("grammar", cstr(s.grammar));
  return p;
}
