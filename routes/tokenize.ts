// tokenize.ts - POST /tokenize, llama-server's shape: {"content", "add_special" (false),
// "parse_special" (true), "with_pieces" (false)} -> {"tokens": [ids]}, or with pieces
// [{"id", "piece"}] where a piece that is not whole UTF-8 comes as its bytes. An optional
// "model" (as vLLM's /tokenize takes) picks one of several served models.
import { Hono } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import { z } from "zod";
import { ApiError } from "../src/server/errors.ts";
import { inTurn, promptByteLimit } from "../src/server/prompt.ts";
import type { ServerState } from "../src/server/state.ts";
import { jsonBody } from "../src/server/validate.ts";

const tokenizeRequest = z.object({
  content: z.string(),
  model: z.string().optional(), // which served model's tokenizer (default: the default model)
  add_special: z.boolean().optional(),
  parse_special: z.boolean().optional(),
  with_pieces: z.boolean().optional(),
});

const strict = new TextDecoder("utf-8", { fatal: true });

function piece(bytes: Uint8Array): string | number[] {
  try {
    return strict.decode(bytes);
  } catch {
    return Array.from(bytes);
  }
}

export function tokenizeRoutes(state: ServerState): Hono<{ Variables: RequestIdVariables }> {
  return new Hono<{ Variables: RequestIdVariables }>().post("/tokenize", jsonBody(tokenizeRequest), async (c) => {
    const req = c.req.valid("json");
    const { engine } = await state.use(c, req.model);
    const limit = promptByteLimit(state.config.maxPromptBytes, engine.info.nCtx);
    if (Buffer.byteLength(req.content, "utf8") > limit) {
      throw ApiError.invalid(`Invalid 'content': this server tokenizes at most ${limit} bytes of text per request`, "content", "too_long");
    }
    const opts = { addSpecial: req.add_special ?? false, parseSpecial: req.parse_special ?? true };
    const tokens = await inTurn(() => engine.tokenize(req.content, opts));
    if (!req.with_pieces) return c.json({ tokens });
    return c.json({ tokens: tokens.map((id) => ({ id, piece: piece(engine.tokenBytes(id, true)) })) });
  });
}
