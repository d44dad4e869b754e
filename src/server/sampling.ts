// sampling.ts - request fields to the engine's SamplerParams, with OpenAI's defaults
// (temperature 1, top_p 1) and the response_format grammar. Choice i of n samples with
// seed + i, so a seeded request is reproducible choice by choice.
import type { SamplerParams } from "../engine/types.ts";
import { ApiError } from "./errors.ts";
import { SchemaError, SchemaLimitError, jsonObjectGrammar, jsonSchemaGrammar, type SchemaLimits } from "./json-grammar.ts";
import { engineProbs } from "./logprobs.ts";
import type { CommonRequest, ResponseFormat } from "./schemas.ts";

// The native seed is a uint32 whose all-ones value means "random": fold into 0 .. 2^32-2.
const SEED_SPACE = 0xffffffff;

export function choiceSeed(seed: number | null | undefined, choice: number): number | null {
  if (seed === null || seed === undefined) return null;
  return (((seed + choice) % SEED_SPACE) + SEED_SPACE) % SEED_SPACE;
}

/** `stop` as a list (a single string is a list of one; empty strings never match). */
export function stopStrings(stop: string | string[] | null | undefined): string[] {
  return (typeof stop === "string" ? [stop] : (stop ?? [])).filter((s) => s.length > 0);
}

/** The response_format's grammar; a schema over the server's limits is a 400 naming the limit. */
export function grammarFor(format: ResponseFormat | null | undefined, limits: SchemaLimits): string | null {
  if (!format || format.type === "text") return null;
  if (format.type === "json_object") return jsonObjectGrammar();
  try {
    return jsonSchemaGrammar(format.json_schema.schema ?? {}, limits);
  } catch (e) {
    if (e instanceof SchemaLimitError) throw ApiError.invalid(`Invalid 'response_format': ${e.message}`, "response_format", e.code);
    if (e instanceof SchemaError) {
      throw ApiError.invalid(`Invalid 'response_format.json_schema.schema': ${e.message}`, "response_format.json_schema.schema");
    }
    throw e;
  }
}

/**
 * One SamplerParams per request; `nVocab` bounds logit_bias keys. topLogprobs: alternatives
 * the client wants per token, or null when it wants no log-probs at all. limits: the server's
 * bounds on a json_schema (the config's settings).
 */
export function samplerFor(req: CommonRequest, nVocab: number, topLogprobs: number | null, limits: SchemaLimits): SamplerParams {
  const logit_bias: Record<number, number> = {};
  for (const [k, v] of Object.entries(req.logit_bias ?? {})) {
    const id = Number(k);
    if (id >= nVocab) throw ApiError.invalid(`Invalid 'logit_bias': token id ${id} is out of the vocabulary (0..${nVocab - 1})`, "logit_bias");
    // OpenAI: -100 bans the token, 100 forces it
    logit_bias[id] = v <= -100 ? -Infinity : v;
  }
  return {
    temperature: req.temperature ?? 1,
    top_k: req.top_k ?? 0,
    top_p: req.top_p ?? 1,
    min_p: req.min_p ?? 0,
    seed: choiceSeed(req.seed, 0), // per choice: see choiceSpecs
    repeat_penalty: req.repeat_penalty ?? 1,
    presence_penalty: req.presence_penalty ?? 0,
    frequency_penalty: req.frequency_penalty ?? 0,
    logit_bias,
    grammar: grammarFor(req.response_format, limits),
    ignore_eos: req.ignore_eos ?? false,
    n_probs: topLogprobs === null ? 0 : engineProbs(topLogprobs),
  };
}
