// health.ts - GET /health: 200 once the model serves, 503 while it loads. Answers from the
// main thread's event loop, which generation never blocks, so it stays fast under load.
import { Hono } from "hono";
import type { ServerState } from "../src/server/state.ts";

export function healthRoutes(state: ServerState): Hono {
  return new Hono().get("/health", (c) => {
    const engine = state.engine();
    const s = engine.stats();
    return c.json({
      status: "ok",
      model: engine.info.id,
      speculative: engine.info.drafter !== null && state.config.draft,
      slots: s.slots,
      slots_busy: s.busySlots,
      queue_depth: s.queueDepth,
    });
  });
}
