// models.ts - GET /v1/models and GET /v1/models/:id: every local model (loaded or not: the others
// load on first use) and its aliases, in OpenAI's list shape, followed by the upstreams' models
// when there are upstreams; an unknown id is a 404 model_not_found. Files appear by name only:
// where they sit on the server's disk is none of the client's business.
import { basename } from "node:path";
import { Hono } from "hono";
import type { PoolModel } from "../src/engine/pool.ts";
import type { Gateway } from "../src/gateway/gateway.ts";
import { ApiError } from "../src/server/errors.ts";
import type { ServerState } from "../src/server/state.ts";

export function modelsRoutes(state: ServerState, gateway: Gateway | null = null): Hono {
  const model = (id: string, m: PoolModel) => {
    const info = m.engine?.info ?? null; // null until it loads
    const drafter = info ? info.drafter : m.spec.drafter;
    return {
      id,
      object: "model",
      created: state.startedAt,
      owned_by: "redrafter",
      // extension: what serves it
      meta: {
        loaded: info !== null,
        n_ctx: info?.nCtx ?? null,
        n_ctx_train: info?.nCtxTrain ?? null,
        n_vocab: info?.nVocab ?? null,
        drafter: drafter === null ? null : basename(drafter),
        beam_width: info ? info.beamWidth : drafter ? state.config.beamWidth : 0,
        beam_length: info ? info.beamLength : drafter ? state.config.beamLength : 0,
        flash_attn: info?.flashAttn ?? null,
      },
    };
  };
  const local = () => {
    if (!state.pool) return [];
    // without upstreams the list waits for the default model, as /health does
    if (!gateway) state.engine();
    return state.pool.models.flatMap((m) => [m.id, ...m.spec.aliases].map((id) => model(id, m)));
  };
  return new Hono()
    .get("/models", async (c) => c.json({ object: "list", data: [...local(), ...((await gateway?.models()) ?? [])] }))
    .get("/models/:id{.+}", async (c) => {
      const id = c.req.param("id");
      const m = state.pool?.find(id);
      if (m) {
        if (!gateway) state.engine();
        return c.json(model(id, m));
      }
      const found = (await gateway?.models())?.find((x) => x.id === id);
      if (found) return c.json(found);
      if (!gateway) state.engine(); // a 503 while the default loads, as before
      const known = state.pool?.ids() ?? [];
      throw new ApiError(404, `The model '${id}' does not exist${known.length ? `. Available: ${known.join(", ")}` : ""}`, "invalid_request_error", "model_not_found", "model");
    });
}
