// state.ts - what every route shares: the settings, the metrics, the running generations'
// lifetimes (timeouts, shutdown), and the local models (src/engine/pool.ts), the default one of
// which may still be loading (routes answer 503 until it is there). Also the `model` field's
// rule: a served model's id (file name without .gguf) or one of its aliases picks that model,
// loading it on first use; no `model` picks the default; anything else is a 404. Middleware
// puts it on every request as c.var.state.
import type { Context } from "hono";
import type { Config } from "../config.ts";
import type { Engine } from "../engine/engine.ts";
import { PoolError, type EnginePool } from "../engine/pool.ts";
import { setIdleTimeout } from "./connection.ts";
import { ApiError, shuttingDown } from "./errors.ts";
import { holdLease } from "./leases.ts";
import { Lifetimes } from "./lifetime.ts";
import { Metrics } from "./metrics.ts";

declare module "hono" {
  interface ContextVariableMap {
    state: ServerState;
  }
}

/** Seconds a client is asked to wait when every model in the way of a load is in use. */
const BUSY_RETRY_S = 2;

/** The pool's refusals as the API answers them. */
function fromPool(e: unknown, isDefault: boolean): unknown {
  if (!(e instanceof PoolError)) return e;
  switch (e.code) {
    case "loading": return new ApiError(503, "The model is loading, retry shortly", "server_error", "model_loading");
    // the cause (often naming a file path) is in the server's log, not in the API
    case "load_failed": return new ApiError(isDefault ? 503 : 500, e.message, "server_error", "model_load_failed");
    case "busy": return new ApiError(503, e.message, "server_error", "model_capacity", null, { "Retry-After": String(BUSY_RETRY_S) });
    case "too_large": return new ApiError(500, e.message, "server_error", "model_too_large");
    case "shutting_down": return shuttingDown();
  }
}

export class ServerState {
  readonly metrics = new Metrics();
  readonly startedAt = Math.floor(Date.now() / 1000);
  readonly lifetimes: Lifetimes;

  /** pool: null for a pure gateway (no local model). */
  constructor(
    readonly config: Config,
    readonly pool: EnginePool | null,
  ) {
    this.lifetimes = new Lifetimes(config.requestTimeout);
  }

  /** The default model's engine, or a 503 while it loads (or after it failed to). */
  engine(): Engine {
    const engine = this.pool?.default.engine;
    if (engine) return engine;
    throw this.#unready();
  }

  #unready(): unknown {
    const failed = this.pool !== null && this.pool.default.state !== "loading";
    return fromPool(new PoolError(failed ? "load_failed" : "loading", "The model failed to load"), true);
  }

  /** The default model's engine once loaded. */
  get loaded(): Engine | null {
    return this.pool?.default.engine ?? null;
  }

  get shuttingDown(): boolean {
    return this.lifetimes.closing;
  }

  /** The engine for a request's `model` (the default when there is none), loaded first if need
   *  be and held until the response is out (leases.ts); and the id to report, the one the client
   *  named. 404 for a model this server does not serve. */
  async use(c: Context, requested: string | undefined): Promise<{ engine: Engine; model: string }> {
    const pool = this.pool;
    if (!pool) throw this.#unready();
    const m = requested ? pool.find(requested) : pool.default;
    if (!m) {
      throw new ApiError(404, `The model '${requested}' does not exist. Available: ${pool.ids().join(", ")}`, "invalid_request_error", "model_not_found", "model");
    }
    // a first use waits for the load, which may outlast --header-timeout
    if (m.state !== "loaded") setIdleTimeout(c, 0);
    let lease;
    try {
      lease = await pool.acquire(m);
    } catch (e) {
      throw fromPool(e, m.pinned);
    }
    holdLease(c, lease.release);
    return { engine: lease.engine, model: requested || m.id };
  }

  /** Stop serving: new and queued requests get 503, running generations may finish for graceS
   *  seconds and are then cancelled. Resolves once none is left; the engines stay open. */
  async shutdown(graceS: number): Promise<void> {
    const done = this.lifetimes.shutdown(graceS);
    this.pool?.drain();
    await done;
  }
}
