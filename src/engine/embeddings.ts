// embeddings.ts - the engine's embeddings: one rd_embedder on the engine's model, owned by a
// worker of its own (embed-worker.ts) that starts on the first request, so generation slots are
// untouched and the event loop only passes messages. Requests run one at a time in arrival
// order; at most queueSize wait (then QueueFullError, a 429), as for generations.
import { NativeError, type StatusName } from "../ffi/errors.ts";
import { cancelEmbedder, type EmbedderParams, type PoolingValue } from "../ffi/embed.ts";
import type { Pointer } from "../ffi/symbols.ts";
import { EngineError, QueueFullError } from "./errors.ts";
import type { FromEmbedWorker, ToEmbedWorker } from "./embed-worker.ts";
import type { WireError } from "./slot-worker.ts";

export interface EmbedderInfo {
  nCtx: number; // longest input, tokens
  nEmbd: number; // floats per embedding
  pooling: PoolingValue; // in use: MEAN, CLS or LAST
}

interface Job {
  id: number;
  inputs: number[][];
  signal: AbortSignal | undefined;
  resolve(vectors: Float32Array[]): void;
  reject(e: Error): void;
}

const WORKER_URL = new URL("./embed-worker.ts", import.meta.url).href;
const CLOSE_TIMEOUT_MS = 30_000;

function engineError(e: WireError, index: number | null): Error {
  const where = index === null ? "" : `input ${index}: `;
  if (e.status < 0) return new EngineError("internal", where + e.message);
  return EngineError.fromStatus(e.status, where + new NativeError(e.status, e.code as StatusName, e.message).message);
}

export class Embeddings {
  readonly #worker = new Worker(WORKER_URL);
  readonly #cancel = new Int32Array(new SharedArrayBuffer(4));
  readonly #queue: Job[] = [];
  readonly #ready: Promise<EmbedderInfo>;
  #embedder: Pointer | null = null;
  #running: Job | null = null;
  #nextJob = 1;
  #closed: (() => void) | null = null;
  #closing = false;

  constructor(model: Pointer, params: EmbedderParams, private readonly queueSize: number) {
    this.#ready = new Promise<EmbedderInfo>((resolve, reject) => {
      this.#worker.onmessage = (ev: MessageEvent<FromEmbedWorker>) => {
        const m = ev.data;
        if (m.t === "ready") {
          this.#embedder = m.embedder as Pointer;
          resolve({ nCtx: m.nCtx, nEmbd: m.nEmbd, pooling: m.pooling });
        } else if (m.t === "open-failed") {
          reject(engineError(m.error, null));
        } else {
          this.#onMessage(m);
        }
      };
      this.#worker.onerror = (ev: ErrorEvent) => {
        const err = new EngineError("internal", `embedding worker failed: ${ev.message}`);
        reject(err);
        this.#running?.reject(err);
        this.#running = null;
        for (const job of this.#queue.splice(0)) job.reject(err);
      };
    });
    this.#ready.catch(() => this.#worker.terminate());
    const msg: ToEmbedWorker = { t: "open", model, params, cancel: this.#cancel.buffer as SharedArrayBuffer };
    this.#worker.postMessage(msg);
  }

  /** The embedder's shape, once its context exists; rejects when it could not be made (e.g. a
   *  reranker GGUF: EngineError "internal" with the library's message). */
  info(): Promise<EmbedderInfo> {
    return this.#ready;
  }

  /** Each input's embedding (token ids in, unit-length vectors out, in order). EngineError
   *  context_length_exceeded / invalid_request name the input; an aborted signal rejects with
   *  its reason. */
  async embed(inputs: number[][], signal?: AbortSignal): Promise<Float32Array[]> {
    await this.#ready;
    if (this.#closing) throw new EngineError("shutting_down", "the engine is shutting down");
    if (this.#queue.length >= this.queueSize && this.#running) throw new QueueFullError(this.queueSize);
    signal?.throwIfAborted();
    return new Promise<Float32Array[]>((resolve, reject) => {
      const job: Job = { id: this.#nextJob++, inputs, signal, resolve, reject };
      const onAbort = () => this.#abort(job);
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle = <A extends unknown[]>(f: (...a: A) => void) => (...a: A) => {
        signal?.removeEventListener("abort", onAbort);
        f(...a);
      };
      job.resolve = settle(resolve);
      job.reject = settle(reject);
      this.#queue.push(job);
      this.#next();
    });
  }

  /** Stop: queued requests fail, the running one is cancelled, the embedder is freed. False when
   *  the worker did not answer in time (the model must then stay mapped). */
  async close(): Promise<boolean> {
    this.#closing = true;
    for (const job of this.#queue.splice(0)) job.reject(new EngineError("shutting_down", "the engine is shutting down"));
    if (this.#running) this.#abort(this.#running);
    const opened = await this.#ready.then(() => true, () => false);
    if (!opened) return true;
    const closed = new Promise<boolean>((r) => (this.#closed = () => r(true)));
    this.#worker.postMessage({ t: "close" } satisfies ToEmbedWorker);
    const ok = await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), CLOSE_TIMEOUT_MS).unref?.())]);
    this.#worker.terminate();
    return ok;
  }

  #next(): void {
    if (this.#running) return;
    const job = this.#queue.shift();
    if (!job) return;
    this.#running = job;
    this.#worker.postMessage({ t: "embed", job: job.id, inputs: job.inputs } satisfies ToEmbedWorker);
  }

  #abort(job: Job): void {
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      job.reject(abortReason(job.signal));
    } else if (this.#running === job) {
      Atomics.store(this.#cancel, 0, job.id);
      if (this.#embedder !== null) cancelEmbedder(this.#embedder);
    }
  }

  #onMessage(m: FromEmbedWorker): void {
    if (m.t === "closed") return this.#closed?.();
    const job = this.#running;
    if (!job || !("job" in m) || m.job !== job.id) return;
    this.#running = null;
    if (m.t === "done") job.resolve(m.vectors);
    else if (m.t === "failed") job.reject(engineError(m.error, m.index));
    else job.reject(this.#closing ? new EngineError("shutting_down", "the engine is shutting down") : abortReason(job.signal));
    this.#next();
  }
}

function abortReason(signal: AbortSignal | undefined): Error {
  const r = signal?.reason;
  return r instanceof Error ? r : new DOMException("The request was aborted", "AbortError");
}
