// engine.ts - the engine the gateway and the CLI drive: one target model (+ drafter) shared by
// `slots` sessions, each owned by a worker (slots.ts, slot-worker.ts), a bounded wait queue in
// front of them (served in turn.ts's order), and counters for /metrics. This file is the
// scheduling: admission (a free slot, else the queue, else QueueFullError), dispatch, cancel,
// release, shutdown and worker replacement. The main thread only tokenizes, detokenizes and
// cancels; prefill and steps run in the workers (STYLE rule 11).
// Over 300 lines because admission, the queue, cancellation and shutdown share the slot list.
import { Drafter } from "../ffi/drafter.ts";
import { Model } from "../ffi/model.ts";
import type { SessionParams, StepOutput } from "../ffi/session.ts";
import type { Pointer } from "../ffi/symbols.ts";
import { sessionThreads } from "./calibrate.ts";
import { EngineError, QueueFullError } from "./errors.ts";
import { Embeddings } from "./embeddings.ts";
import { Generation } from "./generation.ts";
import { IdleTrimmer, tuneAllocator } from "./memory.ts";
import { modelInfo, modelParams, sessionShape, type EngineOptions } from "./options.ts";
import { loadWeights, WorkerSlot } from "./slots.ts";
import { StepTotals, type EngineStats } from "./stats.ts";
import { closingEvent, stepEvent } from "./step-event.ts";
import { DEFAULT_PREFILL_MS_PER_TOKEN, expectedWaitMs, takeNext } from "./turn.ts";
import type { GenerateRequest, ModelInfo } from "./types.ts";
import type { FromWorker } from "./worker-protocol.ts";

export { EngineError, QueueFullError } from "./errors.ts";
export type { Generation } from "./generation.ts";
export type { EngineOptions } from "./options.ts";
export type { EngineStats } from "./stats.ts";

export class Engine {
  readonly info: ModelInfo;
  readonly #model: Model;
  readonly #drafter: Drafter | null;
  readonly #params: SessionParams;
  readonly #speculative: boolean; // a drafter or the context copy can propose tokens
  readonly #slots: WorkerSlot[] = [];
  readonly #queue: Generation[] = [];
  readonly #queueSize: number;
  readonly #maxQueueWaitMs: number;
  readonly #capacity: number;
  readonly #decoder = new TextDecoder();
  readonly #steps = new StepTotals(); // every step since load
  #nextGen = 1;
  #draining = false; // drain() was called: no new work, running generations go on
  #closing: Promise<void> | null = null;
  #embeddings: Embeddings | null = null;
  readonly #trimmer = new IdleTrimmer(() => !this.#closing && this.#queue.length === 0 && this.#slots.every((s) => !s.job));
  readonly #stats = { requests: 0, requestsRejected: 0, requestsCompleted: 0, requestsCancelled: 0, requestsFailed: 0, promptTokens: 0, prefillMs: 0 };

  private constructor(
    model: Model,
    drafter: Drafter | null,
    opts: EngineOptions,
    params: SessionParams,
    first: { nCtx: number; flashAttn: boolean },
  ) {
    this.#model = model;
    this.#drafter = drafter;
    this.#params = params;
    this.#speculative = drafter !== null || (params.lookup ?? 0) > 0;
    this.#queueSize = opts.queueSize ?? 16;
    this.#maxQueueWaitMs = opts.maxQueueWaitMs ?? 0;
    this.#capacity = (opts.slots ?? 1) + this.#queueSize;
    this.info = modelInfo(opts, model, drafter !== null, params, first);
  }

  /** Load the model and drafter (in a worker: reading weights is long native work), then open
   *  one session per slot in its worker. Load failures reject with NativeError (RD_ERR_IO,
   *  RD_ERR_FORMAT, RD_ERR_MISMATCH, ...). */
  static async load(opts: EngineOptions): Promise<Engine> {
    const nSlots = opts.slots ?? 1;
    if (!Number.isInteger(nSlots) || nSlots < 1) throw new EngineError("invalid_request", `slots must be >= 1 (got ${nSlots})`);
    tuneAllocator();
    const loaded = await loadWeights(opts.model, modelParams(opts), opts.drafter);
    const model = Model.fromPointer(loaded.model as Pointer, opts.model);
    const drafter = loaded.drafter === null ? null : Drafter.fromPointer(loaded.drafter as Pointer, model, opts.drafter!);
    const opened: WorkerSlot[] = [];
    try {
      const shape = sessionShape(opts);
      // with several slots "auto" only considers counts that fit beside the others: spinning
      // ggml workers must not oversubscribe the cores
      const threads = await sessionThreads({
        setting: opts.threads === 0 ? "auto" : opts.threads, recalibrate: opts.recalibrateThreads ?? false, slots: nSlots,
        model: { ptr: model.ptr, path: opts.model, nVocab: model.nVocab },
        drafter: drafter ? { ptr: drafter.ptr, path: opts.drafter! } : null,
        modelSettings: { ...modelParams(opts) },
        params: shape, speculative: drafter !== null || (shape.lookup ?? 0) > 0,
        log: opts.log ?? ((line) => console.error(`redrafter: ${line}`)),
      });
      const params: SessionParams = { ...shape, nThreads: threads };
      const results = await Promise.allSettled(
        Array.from({ length: nSlots }, () => WorkerSlot.open(model.ptr, drafter?.ptr ?? null, params)),
      );
      for (const r of results) if (r.status === "fulfilled") opened.push(r.value.slot);
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      const first = (results[0] as PromiseFulfilledResult<{ nCtx: number; flashAttn: boolean }>).value;
      const engine = new Engine(model, drafter, opts, params, first);
      for (const s of opened) engine.#adopt(s);
      return engine;
    } catch (e) {
      const clean = await Promise.all(opened.map((s) => s.close()));
      if (clean.every(Boolean)) {
        drafter?.close();
        model.close();
      }
      throw e;
    }
  }

  tokenize(text: string, opts: { addSpecial?: boolean; parseSpecial?: boolean } = {}): number[] {
    return Array.from(this.#model.tokenize(text, opts.addSpecial ?? true, opts.parseSpecial ?? false));
  }

  /** Raw bytes of a token's piece (may be a partial UTF-8 sequence); control tokens render as
   *  empty unless special. */
  tokenBytes(token: number, special = false): Uint8Array {
    return this.#model.tokenBytes(token, special);
  }

  /** A token's text, control tokens included (e.g. "<s>"), for templates and logs. */
  tokenText(token: number): string {
    return this.#decoder.decode(this.#model.tokenBytes(token, true));
  }

  isEog(token: number): boolean {
    return this.#model.isEog(token);
  }

  /** Start (or queue) a generation. Throws QueueFullError at once when every slot is busy and the
   *  queue is full; every other failure (EngineError with a code) is thrown by the iterator. */
  generate(req: GenerateRequest): Generation {
    const job = new Generation(this.#nextGen++, req, (g) => this.#cancel(g));
    if (this.#draining) {
      job.end(new EngineError("shutting_down", "the engine is shutting down"));
      return job;
    }
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 0) {
      job.end(new EngineError("invalid_request", `max tokens must be a non-negative integer (got ${req.maxTokens})`));
      return job;
    }
    const slot = this.#slots.find((s) => !s.job);
    if (!slot && this.#queue.length >= this.#queueSize) {
      this.#stats.requestsRejected++;
      throw new QueueFullError(this.#queueSize);
    }
    if (!slot && this.#maxQueueWaitMs > 0) {
      const running = this.#slots.flatMap((s) => (s.job ? [s.job] : []));
      const waitMs = expectedWaitMs(job, running, this.#queue, this.#slots.length, this.#prefillRate(), performance.now());
      if (waitMs > this.#maxQueueWaitMs) {
        this.#stats.requestsRejected++;
        const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
        throw new QueueFullError(this.#queueSize, `the prompts ahead need about ${s(waitMs)} of prefill, over the ${s(this.#maxQueueWaitMs)} a request may wait`,
          Math.max(1, Math.ceil((waitMs - this.#maxQueueWaitMs) / 1000)));
      }
    }
    this.#stats.requests++;
    if (req.signal) {
      if (req.signal.aborted) {
        this.#endCancelled(job, undefined);
        return job;
      }
      const signal = req.signal;
      const onAbort = () => this.#cancel(job);
      signal.addEventListener("abort", onAbort, { once: true });
      job.onEnd = () => signal.removeEventListener("abort", onAbort);
    }
    if (slot) this.#dispatch(job, slot);
    else this.#queue.push(job);
    return job;
  }

  /** CPU threads of each session: the count given, or the one "auto" chose. */
  get threads(): number {
    return this.#params.nThreads!;
  }

  /** Embeddings of the served model (embeddings.ts): an rd_embedder of the slots' context size
   *  and threads, in a worker of its own started on first use. */
  get embeddings(): Embeddings {
    if (this.#draining) throw new EngineError("shutting_down", "the engine is shutting down");
    this.#embeddings ??= new Embeddings(this.#model.ptr, { nCtx: this.info.nCtx, nThreads: this.threads }, this.#queueSize);
    return this.#embeddings;
  }

  /** Generations that can be running or waiting at once (slots + queue): a request needing more
   *  can never be served. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Stop taking work (the first step of a shutdown): queued requests and any new one end with
   *  EngineError "shutting_down"; running generations go on until they end or close() cancels
   *  them. */
  drain(): void {
    this.#draining = true;
    for (const job of this.#queue.splice(0)) {
      this.#stats.requestsFailed++;
      job.end(new EngineError("shutting_down", "the engine is shutting down"));
    }
  }

  stats(): EngineStats {
    const { prefillMs, ...s } = this.#stats;
    const t = this.#steps;
    return {
      ...s,
      tokensGenerated: t.tokens, steps: t.steps, speculativeSteps: t.speculativeSteps, targetCalls: t.targetCalls,
      drafted: t.drafted, accepted: t.accepted, copyAccepted: t.copyAccepted, treeNodes: t.treeNodes,
      time: { prefillMs, draftMs: t.draftMs, verifyMs: t.verifyMs, otherMs: t.otherMs },
      queueDepth: this.#queue.length,
      busySlots: this.#slots.filter((x) => x.job).length,
      slots: this.#slots.length,
    };
  }

  /** Drain (queued requests fail), cancel running ones, free the sessions, then the drafter and model.
   *  If a worker does not let go of its session in time the model is left mapped (freeing it
   *  under a running session would crash the process). */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.drain();
    this.#trimmer.stop();
    const clean = await Promise.all(
      this.#slots.map(async (s) => {
        if (s.job) this.#cancel(s.job);
        await s.idle();
        return s.close();
      }),
    );
    this.#slots.length = 0;
    clean.push((await this.#embeddings?.close()) ?? true);
    if (clean.every(Boolean)) {
      this.#drafter?.close();
      this.#model.close();
    }
  }

  #adopt(slot: WorkerSlot): void {
    this.#slots.push(slot);
    slot.listen({ message: (s, m) => this.#onMessage(s, m), crash: (s, message) => this.#onCrash(s, message) });
  }

  #dispatch(job: Generation, slot: WorkerSlot): void {
    slot.start(job, job.req.draft && this.#speculative);
  }

  #cancel(job: Generation): void {
    if (job.ended) return;
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      this.#endCancelled(job, undefined);
      return;
    }
    this.#slots.find((s) => s.job === job)?.cancel(job.gen);
  }

  #endCancelled(job: Generation, last: StepOutput | undefined): void {
    this.#stats.requestsCancelled++;
    job.push(closingEvent("cancelled", last));
    job.end();
  }

  #onMessage(slot: WorkerSlot, m: FromWorker): void {
    const job = slot.job;
    if (!job || !("gen" in m) || m.gen !== job.gen) return;
    const st = this.#stats;
    switch (m.t) {
      case "prompt-logprobs":
        job.promptLogprobs = m.logprobs;
        return;
      case "prefilled":
        job.prefillMs = m.ms;
        st.promptTokens += job.req.prompt.length;
        st.prefillMs += m.ms;
        return;
      case "step": {
        job.genMs += m.wallMs;
        const ev = stepEvent(m.out, m.finish, job.req.sampler.n_probs, (t) => this.#model.isEog(t));
        this.#steps.add(ev.stats, ev.tokens.length);
        job.push(ev);
        return;
      }
      case "end":
        if (m.reason === "cancelled") this.#endCancelled(job, m.last);
        else if (m.reason === "length") {
          st.requestsCompleted++;
          job.push(closingEvent("length", m.last));
          job.end();
        } else if (m.reason === "error") {
          st.requestsFailed++;
          job.end(EngineError.fromStatus(m.error!.status, m.error!.message));
        } else {
          st.requestsCompleted++;
          job.end();
        }
        this.#release(slot);
    }
  }

  /** The queued generation whose turn comes first (turn.ts), at the prefill rate measured so far. */
  #takeNext(): Generation | undefined {
    return takeNext(this.#queue, this.#prefillRate());
  }

  /** Prefill milliseconds per prompt token, measured so far. */
  #prefillRate(): number {
    const { prefillMs, promptTokens } = this.#stats;
    return promptTokens > 0 ? prefillMs / promptTokens : DEFAULT_PREFILL_MS_PER_TOKEN;
  }

  #release(slot: WorkerSlot): void {
    slot.release();
    if (this.#closing) return;
    const next = this.#takeNext();
    if (next) this.#dispatch(next, slot);
    else this.#trimmer.poke();
  }

  /** The worker died outside native code (a JS error): fail its request and replace it. The old
   *  session is left allocated: its worker's state is unknown, so freeing it is not safe. */
  #onCrash(slot: WorkerSlot, message: string): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    this.#slots.splice(i, 1);
    slot.worker.terminate();
    const job = slot.job;
    slot.release();
    if (job) {
      this.#stats.requestsFailed++;
      job.end(new EngineError("internal", `engine worker failed: ${message}`));
    }
    if (this.#closing) return;
    WorkerSlot.open(this.#model.ptr, this.#drafter?.ptr ?? null, this.#params).then(
      ({ slot: fresh }) => {
        if (this.#closing) return void fresh.close();
        this.#adopt(fresh);
        const next = this.#takeNext();
        if (next) this.#dispatch(next, fresh);
      },
      (e) => console.error(`redrafter: could not replace a failed engine worker: ${e instanceof Error ? e.message : e}`),
    );
  }
}
