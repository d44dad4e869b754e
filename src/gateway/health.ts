// health.ts - background health checks of upstream replicas: every few seconds each replica's
// GET {url}/models (with its key, a short timeout) decides whether the balancer may pick it.
// A replica that fails is skipped until a check passes again; the timers are unref'd, so they
// never keep the process alive.
import type { Pool, Replica } from "./pool.ts";

const CHECK_TIMEOUT_S = 2; // a replica slower than this to list its models is treated as down

export class HealthChecks {
  readonly #timers: ReturnType<typeof setInterval>[] = [];

  constructor(private readonly log: (msg: string) => void) {}

  /** Check every replica of `pools` now and then every replica's healthInterval seconds (0: never). */
  start(pools: readonly Pool[]): void {
    for (const r of pools.flatMap((p) => p.replicas)) {
      if (r.healthIntervalS <= 0) continue;
      let running = false; // a check still waiting on its timeout is not doubled up
      const tick = async () => {
        if (running) return;
        running = true;
        try {
          this.#mark(r, await check(r));
        } finally {
          running = false;
        }
      };
      void tick();
      const t = setInterval(tick, r.healthIntervalS * 1000);
      t.unref();
      this.#timers.push(t);
    }
  }

  stop(): void {
    for (const t of this.#timers.splice(0)) clearInterval(t);
  }

  #mark(r: Replica, failure: string | null): void {
    const healthy = failure === null;
    if (healthy !== r.healthy) this.log(healthy ? `${r.url} is healthy again` : `${r.url} is unhealthy (${failure}): skipped until a check passes`);
    r.healthy = healthy;
  }
}

/** null when the replica answers its model list with a 2xx; otherwise why not. */
async function check(r: Replica): Promise<string | null> {
  try {
    const res = await fetch(`${r.url}/models`, {
      headers: r.apiKey ? { Authorization: `Bearer ${r.apiKey}` } : {},
      signal: AbortSignal.timeout(Math.min(r.timeoutS, CHECK_TIMEOUT_S) * 1000),
    });
    await res.body?.cancel().catch(() => {});
    return res.ok ? null : `GET /models: HTTP ${res.status}`;
  } catch (e) {
    return `GET /models: ${(e as Error).message}`;
  }
}
