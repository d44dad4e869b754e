// pool.ts - the local models one process serves, each its own Engine (and drafter). The first is
// the default: loaded at start, never unloaded. The others load when a request first names them,
// one load at a time (concurrent first requests share it), within a memory budget: when a load
// would pass it, the least recently used models with no request in hand are unloaded first
// (drain + close). A model in use is never unloaded: if only busy ones stand in the way the load
// is refused as "busy" (the client retries), and one that cannot fit beside the default at all
// as "too_large". Requests hold a lease on their model from before its load to the end of their
// response, which is what "in use" means; the engine's own queue and slots count too.
import type { Engine } from "./engine.ts";

/** A model the pool can load; the composition root says how (src/cli/serve.ts). */
export interface ModelSpec {
  id: string;
  aliases: readonly string[]; // more names a request may use
  drafter: string | null; // the drafter it loads with
  estimate(): Promise<number>; // bytes it will hold once loaded (may fetch its file first)
  load(): Promise<Engine>;
}

export type PoolErrorCode = "loading" | "load_failed" | "busy" | "too_large" | "shutting_down";

export class PoolError extends Error {
  override name = "PoolError";
  constructor(
    readonly code: PoolErrorCode,
    message: string,
    options?: { cause: unknown }, // load_failed: the loader's error
  ) {
    super(message, options);
  }
}

export type ModelState = "unloaded" | "loading" | "loaded" | "unloading";

/** A model of the pool: its state, engine and counters (for /metrics). */
export class PoolModel {
  state: ModelState = "unloaded";
  engine: Engine | null = null;
  bytes: number | null = null; // the estimate, once made
  loads = 0;
  loadFailures = 0;
  evictions = 0;
  leases = 0; // requests using it now, or waiting for it to load
  lastUsed = 0; // performance.now() when a lease was last taken or given back
  pending: Promise<void> | null = null; // the load or unload under way

  constructor(
    readonly spec: ModelSpec,
    readonly pinned: boolean, // the default: never unloaded
  ) {}

  get id(): string {
    return this.spec.id;
  }

  get busy(): boolean {
    const s = this.engine?.stats();
    return this.leases > 0 || (!!s && s.busySlots + s.queueDepth > 0);
  }
}

export interface Lease {
  engine: Engine;
  /** Give the model back (idempotent): from then on it may be unloaded. */
  release(): void;
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;

export class EnginePool {
  readonly models: PoolModel[];
  #loads: Promise<unknown> = Promise.resolve(); // the last load queued: one at a time
  #closing = false;

  constructor(
    specs: readonly ModelSpec[],
    readonly budgetBytes: number,
    private readonly log: (msg: string) => void = (m) => console.error(`[pool] ${m}`),
  ) {
    if (specs.length === 0) throw new Error("a pool needs at least one model");
    this.models = specs.map((s, i) => new PoolModel(s, i === 0));
  }

  get default(): PoolModel {
    return this.models[0]!;
  }

  /** The model a request's `model` names: an id or an alias, with or without .gguf. */
  find(name: string): PoolModel | null {
    const bare = name.replace(/\.gguf$/i, "");
    return this.models.find((m) => m.id === name || m.id === bare || m.spec.aliases.some((a) => a === name || a === bare)) ?? null;
  }

  /** Every name a request may use, model by model (each id, then its aliases), the default first. */
  ids(): string[] {
    return this.models.flatMap((m) => [m.id, ...m.spec.aliases.filter((a) => a !== m.id)]);
  }

  /** Bytes the loaded models are estimated to hold. */
  get usedBytes(): number {
    return this.models.reduce((sum, m) => sum + (m.state === "loaded" || m.state === "unloading" ? (m.bytes ?? 0) : 0), 0);
  }

  /** Load the default model (at start); rejects with the loader's own error. */
  async start(): Promise<Engine> {
    const m = this.default;
    if (m.state === "unloaded") this.#load(m);
    try {
      await m.pending;
    } catch (e) {
      throw e instanceof PoolError && e.cause !== undefined ? e.cause : e;
    }
    return m.engine!;
  }

  /** The model's engine, loading it first if need be, held until release(). The default is
   *  not waited for: while it loads (at start) this throws "loading". */
  async acquire(m: PoolModel): Promise<Lease> {
    if (this.#closing) throw new PoolError("shutting_down", "the server is shutting down");
    if (m.pinned && m.state !== "loaded") {
      throw m.state === "loading"
        ? new PoolError("loading", `The model '${m.id}' is loading, retry shortly`)
        : new PoolError("load_failed", `The model '${m.id}' failed to load`);
    }
    m.leases++;
    m.lastUsed = performance.now();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      m.leases--;
      m.lastUsed = performance.now();
    };
    try {
      while (m.state !== "loaded") {
        if (this.#closing) throw new PoolError("shutting_down", "the server is shutting down");
        if (m.state === "unloaded") this.#load(m);
        await m.pending;
      }
    } catch (e) {
      release();
      throw e;
    }
    return { engine: m.engine!, release };
  }

  /** Stop taking work on every loaded engine (Engine.drain: the first step of a shutdown). */
  drain(): void {
    for (const m of this.models) m.engine?.drain();
  }

  /** Close every loaded engine; no load starts any more, and one under way closes its engine
   *  when it ends. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.models.map(async (m) => {
      if (m.state === "unloading") return m.pending;
      const engine = m.engine;
      if (m.state !== "loaded" || !engine) return;
      m.engine = null;
      m.state = "unloaded";
      await engine.close();
    }));
  }

  #load(m: PoolModel): void {
    m.state = "loading";
    const engine = this.#loads.then(() => this.#loadNow(m));
    this.#loads = engine.catch(() => {});
    m.pending = engine.then(
      (e) => {
        m.engine = e;
        m.state = "loaded";
        m.loads++;
      },
      (err: unknown) => {
        m.state = "unloaded";
        if (!(err instanceof PoolError) || err.code === "load_failed") m.loadFailures++;
        throw err;
      },
    );
    m.pending.catch(() => {}); // the waiters get the error; with none waiting it is not unhandled
  }

  async #loadNow(m: PoolModel): Promise<Engine> {
    if (this.#closing) throw new PoolError("shutting_down", "the server is shutting down");
    const t0 = performance.now();
    let engine: Engine;
    try {
      m.bytes ??= await m.spec.estimate();
      await this.#makeRoom(m, m.bytes);
      engine = await m.spec.load();
    } catch (e) {
      if (e instanceof PoolError) throw e;
      this.log(`model '${m.id}' failed to load: ${e instanceof Error ? e.message : e}`);
      throw new PoolError("load_failed", `The model '${m.id}' failed to load; the server's log says why`, { cause: e });
    }
    if (this.#closing) {
      await engine.close();
      throw new PoolError("shutting_down", "the server is shutting down");
    }
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    this.log(`model '${m.id}' loaded in ${s} s (about ${mib(m.bytes)}; ${mib(this.usedBytes + m.bytes)} of ${mib(this.budgetBytes)} in use)`);
    return engine;
  }

  /** Unload the least recently used idle models until `bytes` more fit in the budget; throws
   *  (unloading nothing) when they cannot. The default loads whatever the budget says. */
  async #makeRoom(m: PoolModel, bytes: number): Promise<void> {
    const loaded = this.models.filter((x) => x !== m && x.state === "loaded");
    let used = loaded.reduce((sum, x) => sum + (x.bytes ?? 0), 0);
    const victims: PoolModel[] = [];
    for (const x of loaded.filter((x) => !x.pinned && !x.busy).sort((a, b) => a.lastUsed - b.lastUsed)) {
      if (used + bytes <= this.budgetBytes) break;
      victims.push(x);
      used -= x.bytes ?? 0;
    }
    if (used + bytes > this.budgetBytes) {
      const pinned = loaded.filter((x) => x.pinned).reduce((sum, x) => sum + (x.bytes ?? 0), 0);
      const need = `needs about ${mib(bytes)}`;
      if (m.pinned) {
        this.log(`model '${m.id}' ${need}, more than the memory budget of ${mib(this.budgetBytes)}: it loads all the same, being the default`);
        return;
      }
      if (pinned + bytes > this.budgetBytes) {
        throw new PoolError("too_large", `The model '${m.id}' ${need}, more than the server's memory budget of ${mib(this.budgetBytes)} leaves beside its default model`);
      }
      const busy = loaded.filter((x) => !x.pinned && x.busy).map((x) => x.id);
      throw new PoolError("busy", `The model '${m.id}' ${need}, and the server's memory budget of ${mib(this.budgetBytes)} is held by models in use (${busy.join(", ")}); retry shortly`);
    }
    await Promise.all(victims.map((v) => this.#unload(v)));
  }

  #unload(v: PoolModel): Promise<void> {
    const engine = v.engine!;
    v.state = "unloading";
    v.engine = null;
    engine.drain();
    v.pending = engine.close().finally(() => {
      v.state = "unloaded";
      v.evictions++;
      this.log(`model '${v.id}' unloaded (least recently used, idle) to make room`);
    });
    return v.pending;
  }
}
