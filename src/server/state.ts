// state.ts - what every route shares: the settings, the metrics, the running generations'
// lifetimes (timeouts, shutdown), and the engine, which may still be loading (routes answer 503
// until it is there). Also the `model` field's rule: the served id (file name without .gguf) or
// an --alias; anything else is a 404. Middleware puts it on every request as c.var.state.
import type { Config } from "../config.ts";
import type { Engine } from "../engine/engine.ts";
import { ApiError } from "./errors.ts";
import { Lifetimes } from "./lifetime.ts";
import { Metrics } from "./metrics.ts";

declare module "hono" {
  interface ContextVariableMap {
    state: ServerState;
  }
}

export class ServerState {
  readonly metrics = new Metrics();
  readonly startedAt = Math.floor(Date.now() / 1000);
  readonly lifetimes: Lifetimes;
  #engine: Engine | null = null;
  #loadError: Error | null = null;

  constructor(
    readonly config: Config,
    engine: Engine | Promise<Engine> | null,
  ) {
    this.lifetimes = new Lifetimes(config.requestTimeout);
    if (engine instanceof Promise) {
      engine.then(
        (e) => (this.#engine = e),
        (e: Error) => (this.#loadError = e),
      );
    } else {
      this.#engine = engine;
    }
  }

  /** The engine, or a 503 while it loads (or after it failed to). */
  engine(): Engine {
    if (this.#engine) return this.#engine;
    // the cause (often naming a file path) is in the server's log, not in the API
    if (this.#loadError) throw new ApiError(503, "The model failed to load", "server_error", "model_load_failed");
    throw new ApiError(503, "The model is loading, retry shortly", "server_error", "model_loading");
  }

  get loaded(): Engine | null {
    return this.#engine;
  }

  get shuttingDown(): boolean {
    return this.lifetimes.closing;
  }

  /** Stop serving: new and queued requests get 503, running generations may finish for graceS
   *  seconds and are then cancelled. Resolves once none is left; the engine stays open. */
  async shutdown(graceS: number): Promise<void> {
    const done = this.lifetimes.shutdown(graceS);
    this.#engine?.drain();
    await done;
  }

  /** Model ids clients may use, the served one first. */
  modelIds(): string[] {
    const id = this.engine().info.id;
    return [id, ...this.config.alias.filter((a) => a !== id)];
  }

  /** The id to report for the request's `model` (the one the client named); 404 if unknown. */
  resolveModel(requested: string | undefined): string {
    const ids = this.modelIds();
    if (requested === undefined || requested === "") return ids[0]!;
    const name = requested.replace(/\.gguf$/i, "");
    if (ids.includes(name) || ids.includes(requested)) return requested;
    throw new ApiError(404, `The model '${requested}' does not exist. Available: ${ids.join(", ")}`, "invalid_request_error", "model_not_found", "model");
  }
}
