// pool.ts - the replicas of one upstream model pattern: which one takes the next request (least
// outstanding requests per unit of weight, ties in turn, healthy ones first) and each one's
// counters for /metrics.
import type { UpstreamEntry } from "../config.ts";
import { ConfigError } from "../config.ts";

export class Replica {
  requests = 0;
  errors = 0;
  inFlight = 0;
  latencySum = 0; // seconds, request sent to response ended
  healthy = true; // the last health check passed (health.ts); true until one fails

  constructor(
    readonly url: string, // base URL, e.g. http://10.0.0.5:8000/v1
    readonly apiKey: string | null,
    readonly timeoutS: number,
    readonly weight: number,
    readonly healthIntervalS: number, // seconds between health checks, 0: none
  ) {}

  /** Count one request from now until the returned function is called (once). */
  start(): (failed: boolean) => void {
    const t0 = performance.now();
    this.requests++;
    this.inFlight++;
    let ended = false;
    return (failed) => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      if (failed) this.errors++;
      this.latencySum += (performance.now() - t0) / 1000;
    };
  }
}

/** `*` any run of characters, `?` one; everything else literal. */
function globRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

export class Pool {
  readonly #re: RegExp;
  #next = 0; // round-robin cursor among equally loaded replicas

  constructor(
    readonly pattern: string,
    readonly replicas: Replica[],
  ) {
    this.#re = globRegExp(pattern);
  }

  matches(model: string): boolean {
    return this.#re.test(model);
  }

  /** The least loaded replica (in flight / weight) other than those in `skip`, a healthy one if
   *  any is (when none is, they are all tried: a check may lag a recovery); null if none. */
  pick(skip: ReadonlySet<Replica> = new Set()): Replica | null {
    let best: Replica | null = null;
    let bestAt = 0;
    const n = this.replicas.length;
    const better = (r: Replica, b: Replica) =>
      r.healthy !== b.healthy ? r.healthy : r.inFlight / r.weight < b.inFlight / b.weight;
    for (let k = 0; k < n; k++) {
      const i = (this.#next + k) % n;
      const r = this.replicas[i]!;
      if (skip.has(r)) continue;
      if (!best || better(r, best)) [best, bestAt] = [r, i];
    }
    if (best) this.#next = (bestAt + 1) % n;
    return best;
  }
}

/** The config's entries as pools, one per pattern in the order first given (entries that share a
 *  pattern pool their URLs). An apiKeyEnv that names an unset variable fails at start-up. */
export function poolsOf(entries: readonly UpstreamEntry[], env: Record<string, string | undefined> = process.env): Pool[] {
  const byPattern = new Map<string, Replica[]>();
  for (const e of entries) {
    if (e.apiKey !== null && e.apiKeyEnv !== null) throw new ConfigError(`upstream '${e.model}': give apiKey or apiKeyEnv, not both`);
    const key = e.apiKeyEnv === null ? e.apiKey : env[e.apiKeyEnv];
    if (key === undefined || key === "") throw new ConfigError(`upstream '${e.model}': apiKeyEnv ${e.apiKeyEnv} is not set`);
    const replicas = byPattern.get(e.model) ?? [];
    for (const url of e.urls) replicas.push(new Replica(url.replace(/\/+$/, ""), key, e.timeout, e.weight, e.healthInterval));
    byPattern.set(e.model, replicas);
  }
  return [...byPattern].map(([pattern, replicas]) => new Pool(pattern, replicas));
}
