// gateway.ts - the upstreams as the routes see them: which pool a model id goes to, the
// middleware that forwards a matching request before the local route reads it, the merged model
// list, the replicas' health checks and the per-replica counters for /metrics. Built only when upstreams are configured, so a
// server without them runs exactly the code it ran before.
import type { MiddlewareHandler } from "hono";
import type { UpstreamEntry } from "../config.ts";
import { readBody } from "../server/body.ts";
import { ApiError } from "../server/errors.ts";
import { HealthChecks } from "./health.ts";
import { ModelLists, type ModelObject } from "./models.ts";
import { poolsOf, type Pool } from "./pool.ts";
import { forward } from "./proxy.ts";

const log = (msg: string) => console.error(`[gateway] ${msg}`);

export class Gateway {
  readonly pools: Pool[];
  readonly #lists: ModelLists;
  readonly #health = new HealthChecks(log);

  /** local: whether this process also serves a model of its own (false: a pure gateway). */
  constructor(
    entries: readonly UpstreamEntry[],
    readonly local: boolean,
    env: Record<string, string | undefined> = process.env,
  ) {
    this.pools = poolsOf(entries, env);
    this.#lists = new ModelLists(this.pools, log);
  }

  /** Start checking the replicas' health in the background (until close()). */
  startHealthChecks(): void {
    this.#health.start(this.pools);
  }

  close(): void {
    this.#health.stop();
  }

  route(model: string): Pool | null {
    return this.pools.find((p) => p.matches(model)) ?? null;
  }

  /** Middleware for POST /v1{path}: a body whose `model` is not one of localIds() and matches a
   *  pattern is forwarded; other requests go on to the local route (a pure gateway answers 404). */
  proxy(path: string, localIds: () => string[]): MiddlewareHandler {
    return async (c, next) => {
      const config = c.var.state.config;
      if (c.req.header("Content-Type")?.split(";")[0]!.trim().toLowerCase() !== "application/json") return next();
      const body = await readBody(c, { maxBytes: config.maxBody, timeoutS: config.bodyTimeout });
      let json: { model?: unknown; stream?: unknown };
      try {
        json = JSON.parse(new TextDecoder().decode(body));
      } catch {
        return next(); // the route's validator says what is wrong
      }
      const model = typeof json?.model === "string" ? json.model : "";
      const local = localIds();
      if (local.includes(model) || (this.local && model === "")) return next();
      const pool = model ? this.route(model) : null;
      if (pool) return forward(c, pool, path, body, json.stream === true, c.get("requestId") as string);
      if (this.local) return next();
      if (!model) throw new ApiError(400, "Missing required parameter: 'model'", "invalid_request_error", "missing_required_parameter", "model");
      const known = (await this.#lists.all()).map((m) => m.id);
      throw new ApiError(404, `The model '${model}' does not exist. Available: ${known.join(", ") || "(none)"}`,
        "invalid_request_error", "model_not_found", "model");
    };
  }

  /** The upstreams' models (cached for a few seconds). */
  models(): Promise<ModelObject[]> {
    return this.#lists.all();
  }

  /** Prometheus lines, one series per replica. */
  metrics(): string {
    const replicas = this.pools.flatMap((p) => p.replicas.map((r) => [`model="${p.pattern.replace(/["\\\n]/g, "_")}",upstream="${r.url}"`, r] as const));
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, value: (r: (typeof replicas)[number][1]) => number) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, r] of replicas) out.push(`${name}{${labels}} ${value(r)}`);
    };
    metric("redrafter_upstream_requests_total", "counter", "requests sent to an upstream replica (retries included)", (r) => r.requests);
    metric("redrafter_upstream_errors_total", "counter", "upstream requests that failed (unreachable, timed out, non-2xx, broken stream)", (r) => r.errors);
    metric("redrafter_upstream_in_flight", "gauge", "upstream requests not yet answered in full", (r) => r.inFlight);
    metric("redrafter_upstream_healthy", "gauge", "1 while the replica's last health check passed (the balancer skips it at 0)", (r) => Number(r.healthy));
    metric("redrafter_upstream_latency_seconds_sum", "counter", "time from sending an upstream request to the end of its answer, summed", (r) => r.latencySum);
    return out.join("\n") + "\n";
  }
}
