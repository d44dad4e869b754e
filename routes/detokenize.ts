// detokenize.ts - POST /detokenize, llama-server's shape: {"tokens": [ids]} -> {"content"}; control
// tokens render as their text, as llama-server does. An optional "model" picks one of several
// served models.
import { Hono } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import { z } from "zod";
import { detokenize } from "../src/server/detokenizer.ts";
import { ApiError } from "../src/server/errors.ts";
import { inTurn } from "../src/server/prompt.ts";
import type { ServerState } from "../src/server/state.ts";
import { jsonBody } from "../src/server/validate.ts";

/** Tokens per request: a few milliseconds of work on the HTTP thread. */
export const MAX_DETOKENIZE_TOKENS = 65536;

const detokenizeRequest = z.object({
  model: z.string().optional(), // which served model's vocabulary (default: the default model)
  tokens: z.array(z.number().int().min(0).max(2 ** 31 - 1)).max(MAX_DETOKENIZE_TOKENS, `at most ${MAX_DETOKENIZE_TOKENS} tokens per request`),
});

export function detokenizeRoutes(state: ServerState): Hono<{ Variables: RequestIdVariables }> {
  return new Hono<{ Variables: RequestIdVariables }>().post("/detokenize", jsonBody(detokenizeRequest), async (c) => {
    const { tokens, model } = c.req.valid("json");
    const { engine } = await state.use(c, model);
    const nVocab = engine.info.nVocab;
    const bad = tokens.findIndex((t) => t >= nVocab);
    if (bad >= 0) throw ApiError.invalid(`Invalid 'tokens[${bad}]': token id ${tokens[bad]} is not in the vocabulary (0..${nVocab - 1})`, `tokens[${bad}]`);
    const content = await inTurn(() => detokenize((t) => engine.tokenBytes(t, true), tokens));
    return c.json({ content });
  });
}
