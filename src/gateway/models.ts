// models.ts - the upstreams' model lists for /v1/models: fetched from the first replica of each
// pool that answers, kept for TTL_MS, filtered to the ids the pool's pattern routes. A pool that
// cannot be listed is logged and left out (until the next fetch) rather than failing the list.
import type { Pool } from "./pool.ts";

const TTL_MS = 10_000;
const LIST_TIMEOUT_S = 5;

export interface ModelObject {
  id: string;
  object: "model";
  [k: string]: unknown;
}

export class ModelLists {
  readonly #cache = new Map<Pool, { at: number; models: Promise<ModelObject[]> }>();

  constructor(
    private readonly pools: readonly Pool[],
    private readonly log: (msg: string) => void,
  ) {}

  /** Every pool's models, in pool order, each id once. */
  async all(): Promise<ModelObject[]> {
    const lists = await Promise.all(this.pools.map((p) => this.#of(p)));
    const seen = new Set<string>();
    return lists.flat().filter((m) => !seen.has(m.id) && seen.add(m.id));
  }

  #of(pool: Pool): Promise<ModelObject[]> {
    const hit = this.#cache.get(pool);
    if (hit && performance.now() - hit.at < TTL_MS) return hit.models;
    const models = this.#fetch(pool);
    this.#cache.set(pool, { at: performance.now(), models });
    return models;
  }

  async #fetch(pool: Pool): Promise<ModelObject[]> {
    for (const r of pool.replicas) {
      try {
        const res = await fetch(`${r.url}/models`, {
          headers: r.apiKey ? { Authorization: `Bearer ${r.apiKey}` } : {},
          signal: AbortSignal.timeout(Math.min(r.timeoutS, LIST_TIMEOUT_S) * 1000),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const body = (await res.json()) as { data?: unknown };
        if (!Array.isArray(body.data)) throw new Error("no `data` list in the answer");
        return body.data.filter((m): m is ModelObject => typeof m?.id === "string" && pool.matches(m.id));
      } catch (e) {
        this.log(`models of '${pool.pattern}' from ${r.url}: ${(e as Error).message}`);
      }
    }
    return [];
  }
}
