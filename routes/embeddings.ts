// embeddings.ts - POST /v1/embeddings: each input (text, texts, token ids or lists of them) as
// the model's pooled last hidden states, unit length as OpenAI's are (rd_embedder, in the
// engine's embedding worker); `dimensions` keeps the first N and normalises again (Matryoshka);
// `encoding_format: "base64"` sends little-endian float32 bytes.
import { Hono } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import { z } from "zod";
import { ApiError } from "../src/server/errors.ts";
import { logPrompts } from "../src/server/log-prompts.ts";
import { inTurn, promptByteLimit } from "../src/server/prompt.ts";
import type { ServerState } from "../src/server/state.ts";
import { jsonBody } from "../src/server/validate.ts";

/** OpenAI's own bound on inputs per request. */
export const MAX_EMBEDDING_INPUTS = 2048;
/** Tokens embedded per request, all inputs together: at CPU speeds (hundreds to thousands of
 *  tokens a second) about a minute of work at most. */
export const MAX_EMBEDDING_TOKENS = 65536;

const tokenId = z.number().int().min(0).max(2 ** 31 - 1);

const embeddingRequest = z.object({
  input: z.union([
    z.string().min(1, "must not be empty"),
    z.array(z.string().min(1, "must not be empty")).min(1),
    z.array(tokenId).min(1),
    z.array(z.array(tokenId).min(1, "must not be empty")).min(1),
  ]),
  model: z.string().optional(),
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: z.number().int().min(1).max(2 ** 31 - 1).nullish(),
  user: z.string().nullish(),
});

function inputList(input: z.infer<typeof embeddingRequest>["input"]): (string | number[])[] {
  if (typeof input === "string") return [input];
  if (typeof input[0] === "number") return [input as number[]];
  return input as (string | number[])[];
}

/** The first `dims` components at unit length again (the whole vector when dims is null). */
function shorten(v: Float32Array, dims: number | null): Float32Array {
  if (dims === null || dims >= v.length) return v;
  const out = v.slice(0, dims);
  let norm = 0;
  for (const x of out) norm += x * x;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < dims; i++) out[i]! /= norm;
  return out;
}

export function embeddingsRoutes(state: ServerState): Hono<{ Variables: RequestIdVariables }> {
  return new Hono<{ Variables: RequestIdVariables }>().post("/embeddings", jsonBody(embeddingRequest), async (c) => {
    const req = c.req.valid("json");
    const { engine, model } = await state.use(c, req.model);
    const raw = inputList(req.input);
    if (raw.length > MAX_EMBEDDING_INPUTS) {
      throw ApiError.invalid(`Invalid 'input': at most ${MAX_EMBEDDING_INPUTS} inputs per request (got ${raw.length})`, "input");
    }
    const embeddings = engine.embeddings;
    const info = await embeddings.info();
    const dims = req.dimensions ?? null;
    if (dims !== null && dims > info.nEmbd) {
      throw ApiError.invalid(`Invalid 'dimensions': this model's embeddings have ${info.nEmbd} dimensions (got ${dims})`, "dimensions");
    }
    const byteLimit = promptByteLimit(state.config.maxPromptBytes, info.nCtx);
    const nVocab = engine.info.nVocab;
    const inputs: number[][] = [];
    let total = 0;
    const single = typeof req.input === "string" || typeof req.input[0] === "number";
    for (const [i, p] of raw.entries()) {
      const param = single ? "input" : `input[${i}]`;
      let tokens: number[];
      if (typeof p === "string") {
        if (Buffer.byteLength(p, "utf8") > byteLimit) {
          throw new ApiError(400, `Invalid '${param}': longer than the ${byteLimit} bytes of text this server tokenizes per input`,
            "invalid_request_error", "context_length_exceeded", param);
        }
        tokens = await inTurn(() => engine.tokenize(p));
      } else {
        const bad = p.findIndex((t) => t >= nVocab);
        if (bad >= 0) throw ApiError.invalid(`Invalid '${param}[${bad}]': token id ${p[bad]} is not in the vocabulary (0..${nVocab - 1})`, `${param}[${bad}]`);
        tokens = p;
      }
      if (tokens.length === 0) throw ApiError.invalid(`Invalid '${param}': it holds no token`, param);
      if (tokens.length > info.nCtx) {
        throw new ApiError(400, `This model's maximum context length is ${info.nCtx} tokens, however input ${i} is ${tokens.length} tokens. Please shorten it.`,
          "invalid_request_error", "context_length_exceeded", param);
      }
      total += tokens.length;
      if (total > MAX_EMBEDDING_TOKENS) {
        throw ApiError.invalid(`Invalid 'input': at most ${MAX_EMBEDDING_TOKENS} tokens per request, all inputs together`, "input", "too_many_tokens");
      }
      inputs.push(tokens);
    }
    logPrompts(state, engine, c.get("requestId"), inputs);
    const vectors = await embeddings.embed(inputs, c.req.raw.signal);
    const base64 = req.encoding_format === "base64";
    return c.json({
      object: "list",
      data: vectors.map((v, index) => {
        const e = shorten(v, dims);
        return {
          object: "embedding",
          index,
          embedding: base64 ? Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString("base64") : Array.from(e),
        };
      }),
      model,
      usage: { prompt_tokens: total, total_tokens: total },
    });
  });
}
