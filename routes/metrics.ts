// metrics.ts - GET /metrics: Prometheus text exposition of the gateway's and engine's counters.
import { Hono } from "hono";
import type { ServerState } from "../src/server/state.ts";

export function metricsRoutes(state: ServerState): Hono {
  return new Hono().get("/metrics", (c) =>
    c.text(state.metrics.render(state.loaded?.stats() ?? null), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    }),
  );
}
