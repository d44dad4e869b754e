// health.ts - GET /health: 200 once the default model serves, 503 while it loads (the other
// models load on first use and do not count). Answers from the main thread's event loop, which
// generation never blocks, so it stays fast under load. A pure gateway (upstreams, no local
// model) is ready at once.
import { Hono } from "hono";
import type { Gateway } from "../src/gateway/gateway.ts";
import type { ServerState } from "../src/server/state.ts";

export function healthRoutes(state: ServerState, gateway: Gateway | null = null): Hono {
  return new Hono().get("/health", (c) => {
    if (gateway && !gateway.local) return c.json({ status: "ok", model: null, upstreams: gateway.pools.map((p) => p.pattern) });
    const engine = state.engine();
    const s = engine.stats();
    return c.json({
      status: "ok",
      model: engine.info.id,
      speculative: engine.info.drafter !== null && state.config.draft,
      slots: s.slots,
      slots_busy: s.busySlots,
      queue_depth: s.queueDepth,
      // with several models, which are loaded now
      ...(state.pool!.models.length > 1 ? { models: state.pool!.models.map((m) => ({ id: m.id, state: m.state })) } : {}),
    });
  });
}
