// models.ts - GET /v1/models and GET /v1/models/:id: the served model and its aliases, in
// OpenAI's list shape; an unknown id is a 404 model_not_found. Files appear by name only: where
// they sit on the server's disk is none of the client's business.
import { basename } from "node:path";
import { Hono } from "hono";
import type { ServerState } from "../src/server/state.ts";

export function modelsRoutes(state: ServerState): Hono {
  const model = (id: string) => {
    const info = state.engine().info;
    return {
      id,
      object: "model",
      created: state.startedAt,
      owned_by: "redrafter",
      // extension: what serves it
      meta: {
        n_ctx: info.nCtx,
        n_ctx_train: info.nCtxTrain,
        n_vocab: info.nVocab,
        drafter: info.drafter === null ? null : basename(info.drafter),
        beam_width: info.beamWidth,
        beam_length: info.beamLength,
        flash_attn: info.flashAttn,
      },
    };
  };
  return new Hono()
    .get("/models", (c) => c.json({ object: "list", data: state.modelIds().map(model) }))
    .get("/models/:id{.+}", (c) => c.json(model(state.resolveModel(c.req.param("id")))));
}
