// metrics.ts - GET /metrics: Prometheus text exposition of the gateway's and engine's counters,
// each local model's state, and each upstream replica's when there are upstreams.
import { Hono } from "hono";
import type { Gateway } from "../src/gateway/gateway.ts";
import type { ServerState } from "../src/server/state.ts";

export function metricsRoutes(state: ServerState, gateway: Gateway | null = null): Hono {
  return new Hono().get("/metrics", (c) =>
    c.text(state.metrics.render(state.loaded?.stats() ?? null, state.pool) + (gateway?.metrics() ?? ""), 200, {
      "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
    }),
  );
}
