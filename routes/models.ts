// models.ts - GET /v1/models and GET /v1/models/:id: the served model and its aliases, in
// OpenAI's list shape, followed by the upstreams' models when there are upstreams; an unknown id
// is a 404 model_not_found. Files appear by name only: where they sit on the server's disk is
// none of the client's business.
import { basename } from "node:path";
import { Hono } from "hono";
import type { Gateway } from "../src/gateway/gateway.ts";
import { ApiError } from "../src/server/errors.ts";
import type { ServerState } from "../src/server/state.ts";

export function modelsRoutes(state: ServerState, gateway: Gateway | null = null): Hono {
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
  // with upstreams, a local model that is still loading is left out rather than failing the list
  const local = () => (!gateway || state.loaded ? state.modelIds().map(model) : []);
  return new Hono()
    .get("/models", async (c) => c.json({ object: "list", data: [...local(), ...((await gateway?.models()) ?? [])] }))
    .get("/models/:id{.+}", async (c) => {
      const id = c.req.param("id");
      if (!gateway) return c.json(model(state.resolveModel(id)));
      if (state.loaded && state.modelIds().includes(id)) return c.json(model(id));
      const found = (await gateway.models()).find((m) => m.id === id);
      if (found) return c.json(found);
      if (state.loaded) return c.json(model(state.resolveModel(id)));
      throw new ApiError(404, `The model '${id}' does not exist`, "invalid_request_error", "model_not_found", "model");
    });
}
