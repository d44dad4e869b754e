// slots.ts - the main thread's side of the slot workers: spawning one (to load the weights, or to
// own a session), starting and cancelling a generation in it, closing it. The engine sees a slot
// only through WorkerSlot, so a shared context with continuous batching (DESIGN.md 7), where a
// slot becomes a sequence of one batching worker, changes this file and the worker, not the
// scheduling in engine.ts.
import type { ModelParams } from "../ffi/model.ts";
import { cancelSession, type SessionParams } from "../ffi/session.ts";
import type { Pointer } from "../ffi/symbols.ts";
import { EngineError } from "./errors.ts";
import type { Generation } from "./generation.ts";
import { fromWire, type FromWorker, type ToWorker } from "./worker-protocol.ts";

const WORKER_URL = new URL("./slot-worker.ts", import.meta.url).href;
export const CLOSE_TIMEOUT_MS = 30_000;

/** Messages about a generation, and the worker's death outside native code. */
export interface SlotListener {
  message(slot: WorkerSlot, m: FromWorker): void;
  crash(slot: WorkerSlot, message: string): void;
}

/** One worker owning one session; runs one generation at a time. */
export class WorkerSlot {
  job: Generation | null = null;
  #onIdle: (() => void)[] = [];
  #onClosed: (() => void) | null = null;

  private constructor(
    readonly worker: Worker,
    readonly session: Pointer, // for rd_session_cancel from this thread
    readonly cancelFlag: Int32Array, // shared with the worker: id of the generation to stop
  ) {}

  /** Spawn a worker and open its session; resolves once the session exists. */
  static open(model: Pointer, drafter: Pointer | null, params: SessionParams): Promise<{ slot: WorkerSlot; nCtx: number; flashAttn: boolean }> {
    const worker = new Worker(WORKER_URL);
    const cancel = new SharedArrayBuffer(4);
    let slot: WorkerSlot | null = null;
    return new Promise((resolveOpen, reject) => {
      // replaced by listen(); until then only a close can follow "ready"
      worker.onmessage = (ev: MessageEvent<FromWorker>) => {
        const m = ev.data;
        if (m.t === "ready") {
          slot = new WorkerSlot(worker, m.session as Pointer, new Int32Array(cancel));
          resolveOpen({ slot, nCtx: m.nCtx, flashAttn: m.flashAttn });
        } else if (m.t === "closed") {
          slot?.closed();
        } else if (m.t === "open-failed") {
          worker.terminate();
          reject(fromWire(m.error));
        }
      };
      worker.onerror = (ev: ErrorEvent) => {
        worker.terminate();
        reject(new EngineError("internal", `engine worker failed to start: ${ev.message}`));
      };
      worker.postMessage({ t: "open", model, drafter, params, cancel } satisfies ToWorker);
    });
  }

  listen(l: SlotListener): void {
    this.worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      if (ev.data.t === "closed") this.closed();
      else l.message(this, ev.data);
    };
    this.worker.onerror = (ev: ErrorEvent) => l.crash(this, ev.message);
  }

  start(job: Generation, draft: boolean): void {
    this.job = job;
    job.queueMs = performance.now() - job.submittedAt;
    const { prompt, maxTokens, sampler, promptLogprobs } = job.req;
    this.worker.postMessage({ t: "gen", gen: job.gen, prompt, maxTokens, sampler, draft, promptLogprobs: promptLogprobs ?? null } satisfies ToWorker);
  }

  /** Stop the generation `gen` if it runs here: the flag for the gaps between native calls, the
   *  native cancel for the calls. */
  cancel(gen: number): void {
    Atomics.store(this.cancelFlag, 0, gen);
    cancelSession(this.session);
  }

  /** The generation has ended: the slot is free. */
  release(): void {
    this.job = null;
    for (const r of this.#onIdle.splice(0)) r();
  }

  /** Resolves once the running generation has ended, or after CLOSE_TIMEOUT_MS. */
  idle(): Promise<void> {
    if (!this.job) return Promise.resolve();
    return Promise.race([new Promise<void>((r) => this.#onIdle.push(r)), sleep(CLOSE_TIMEOUT_MS)]);
  }

  /** @internal the worker answered "closed" */
  closed(): void {
    this.#onClosed?.();
  }

  /** Free the session in the worker and stop the worker; false if it did not answer. */
  async close(): Promise<boolean> {
    const closed = new Promise<boolean>((r) => (this.#onClosed = () => r(true)));
    this.worker.postMessage({ t: "close" } satisfies ToWorker);
    const ok = await Promise.race([closed, sleep(CLOSE_TIMEOUT_MS).then(() => false)]);
    this.worker.terminate();
    return ok;
  }
}

/** Load the model and drafter in a short-lived worker; the pointers come back owned by us. */
export function loadWeights(model: string, modelParams: ModelParams, drafter: string | null): Promise<{ model: number; drafter: number | null }> {
  const worker = new Worker(WORKER_URL);
  return new Promise<{ model: number; drafter: number | null }>((resolveLoad, reject) => {
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.t === "loaded") resolveLoad(m);
      else if (m.t === "load-failed") reject(fromWire(m.error));
    };
    worker.onerror = (ev: ErrorEvent) => reject(new EngineError("internal", `engine worker failed to start: ${ev.message}`));
    worker.postMessage({ t: "load", model, modelParams, drafter } satisfies ToWorker);
  }).finally(() => worker.terminate());
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref?.());
}
