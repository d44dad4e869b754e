// engine.ts - the engine the gateway and the CLI drive: one target model (+ drafter) shared by
// `slots` sessions, each owned by a Bun Worker (slot-worker.ts), a bounded wait queue in front
// of them, and counters for /metrics. The main thread only tokenizes, detokenizes and cancels;
// prefill and steps run in the workers (STYLE rule 11).
import { basename, resolve } from "node:path";
import { Drafter } from "../ffi/drafter.ts";
import { NativeError, type StatusName } from "../ffi/errors.ts";
import { Model } from "../ffi/model.ts";
import { cancelSession, type SessionParams, type StepOutput } from "../ffi/session.ts";
import type { Pointer } from "../ffi/symbols.ts";
import { sessionThreads } from "./calibrate.ts";
import { chatFormat } from "./chat-template.ts";
import { EngineError, QueueFullError } from "./errors.ts";
import { Embeddings } from "./embeddings.ts";
import { IdleTrimmer, tuneAllocator } from "./memory.ts";
import type { ThreadsSetting } from "./threads.ts";
import type { FromWorker, ToWorker, WireError } from "./slot-worker.ts";
import type { GenerateRequest, ModelInfo, StepEvent, StepStats, TokenLogprob } from "./types.ts";

export { EngineError, QueueFullError } from "./errors.ts";

export interface EngineOptions {
  model: string; // target GGUF path
  drafter: string | null; // drafter GGUF path; null = plain decoding only
  nCtx: number; // per-session context, tokens; 0 = 4096 capped at the model's train ctx
  beamWidth: number; // B
  beamLength: number; // L
  nGpuLayers: number; // -1 = all, 0 = CPU only
  batchInvariant?: boolean; // logits independent of the batch: speculative == plain bit for bit, one chain per step. Default true
  device: string | null; // ggml device name, null = llama.cpp's choice
  threads: ThreadsSetting; // CPU threads per session; "auto" (or 0): measured at load (calibrate.ts)
  recalibrateThreads?: boolean; // with "auto": measure even when a cached table fits. Default false
  log?: (line: string) => void; // start-up notes (the thread choice). Default: stderr
  flashAttn: -1 | 0 | 1; // auto / off / on
  kvF32: boolean; // f32 KV cache (exactness tests), else f16
  adaptive?: boolean; // pick the draft length per step from measured acceptance and costs. Default true
  lazyHead?: boolean; // run the LM head only for the tree nodes the acceptance walk reaches. Default true
  lookup?: number; // context-copy beam, tokens at most (0 = off); drafts also without a drafter. Default 16
  slots?: number; // parallel sessions. Default 1
  queueSize?: number; // requests waiting beyond the slots before QueueFullError. Default 16
}

/** Counters since load, for /metrics and bench output (names follow DESIGN section 4). */
export interface EngineStats {
  requests: number; // accepted (started or queued)
  requestsRejected: number; // refused with QueueFullError
  requestsCompleted: number;
  requestsCancelled: number;
  requestsFailed: number;
  promptTokens: number; // tokens prefilled
  tokensGenerated: number; // tokens delivered (EOG excluded)
  steps: number;
  speculativeSteps: number; // steps that drafted
  targetCalls: number; // target decodes as the steps report them: each prefill counts as one
  drafted: number;
  accepted: number;
  copyAccepted: number; // of accepted: tokens only the context-copy beam proposed
  treeNodes: number;
  time: { prefillMs: number; draftMs: number; verifyMs: number; otherMs: number };
  queueDepth: number; // requests waiting now
  busySlots: number; // slots generating now
  slots: number;
}

interface Slot {
  worker: Worker;
  session: Pointer; // for rd_session_cancel from this thread
  cancel: Int32Array; // shared with the worker: id of the generation to stop
  job: Generation | null;
  onIdle: (() => void)[];
  onClosed: (() => void) | null;
}

const WORKER_URL = new URL("./slot-worker.ts", import.meta.url).href;
const CLOSE_TIMEOUT_MS = 30_000;

/** One request's stream of StepEvents. Also carries its timings once known. */
export class Generation implements AsyncIterableIterator<StepEvent> {
  readonly submittedAt = performance.now();
  queueMs = 0; // waiting for a slot
  prefillMs = 0; // prompt decode in the worker
  genMs = 0; // sum of step times in the worker: the generation phase, prefill excluded
  ttftMs: number | null = null; // submission -> first token delivered
  /** @internal the slot running it */
  slot: Slot | null = null;
  /** @internal called once when the stream ends */
  onEnd: (() => void) | null = null;
  ended = false; // no more events will be produced
  #events: StepEvent[] = [];
  #error: Error | null = null;
  #released = false; // the consumer stopped (return) or saw the end
  #wake: (() => void) | null = null;

  constructor(
    readonly gen: number,
    readonly req: GenerateRequest,
    private readonly onReturn: (g: Generation) => void,
  ) {}

  push(ev: StepEvent): void {
    if (this.#released) return;
    if (this.ttftMs === null && ev.tokens.length > 0) this.ttftMs = performance.now() - this.submittedAt;
    this.#events.push(ev);
    this.#notify();
  }

  /** End the stream; err (if any) is thrown by next() after the events already pushed. */
  end(err: Error | null = null): void {
    if (this.ended) return;
    this.ended = true;
    this.#error = err;
    this.onEnd?.();
    this.#notify();
  }

  async next(): Promise<IteratorResult<StepEvent>> {
    for (;;) {
      const ev = this.#events.shift();
      if (ev) return { value: ev, done: false };
      if (this.ended) {
        this.#released = true;
        const err = this.#error;
        this.#error = null;
        if (err) throw err;
        return { value: undefined, done: true };
      }
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /** The consumer stopped early (break in for-await): cancel, drop what is still to come. */
  async return(): Promise<IteratorResult<StepEvent>> {
    this.#released = true;
    this.#events.length = 0;
    if (!this.ended) this.onReturn(this);
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}

const zeroStats = (): StepStats => ({
  n_drafted: 0, n_tree: 0, n_accepted: 0, target_calls: 0, t_draft_ms: 0, t_verify_ms: 0, t_other_ms: 0, n_head: 0,
  n_copy: 0, n_copy_accepted: 0,
});

function stepStats(o: StepOutput | undefined): StepStats {
  if (!o) return zeroStats();
  return {
    n_drafted: o.nDrafted, n_tree: o.nTree, n_accepted: o.nAccepted, target_calls: o.targetCalls,
    t_draft_ms: o.tDraftMs, t_verify_ms: o.tVerifyMs, t_other_ms: o.tOtherMs, n_head: o.nHead,
    n_copy: o.nCopy, n_copy_accepted: o.nCopyAccepted,
  };
}

/** A worker's load/open failure as the caller would have seen it on this thread. */
function nativeError(e: WireError): Error {
  return e.status >= 0 ? new NativeError(e.status, e.code as StatusName, e.message) : new EngineError("internal", e.message);
}

export class Engine {
  readonly info: ModelInfo;
  readonly #model: Model;
  readonly #drafter: Drafter | null;
  readonly #params: SessionParams;
  readonly #speculative: boolean; // a drafter or the context copy can propose tokens
  readonly #slots: Slot[] = [];
  readonly #queue: Generation[] = [];
  readonly #queueSize: number;
  readonly #capacity: number;
  readonly #decoder = new TextDecoder();
  #nextGen = 1;
  #draining = false; // drain() was called: no new work, running generations go on
  #closing: Promise<void> | null = null;
  #embeddings: Embeddings | null = null;
  readonly #trimmer = new IdleTrimmer(() => !this.#closing && this.#queue.length === 0 && this.#slots.every((s) => !s.job));
  readonly #stats: Omit<EngineStats, "queueDepth" | "busySlots" | "slots"> = {
    requests: 0, requestsRejected: 0, requestsCompleted: 0, requestsCancelled: 0, requestsFailed: 0,
    promptTokens: 0, tokensGenerated: 0, steps: 0, speculativeSteps: 0, targetCalls: 0,
    drafted: 0, accepted: 0, copyAccepted: 0, treeNodes: 0,
    time: { prefillMs: 0, draftMs: 0, verifyMs: 0, otherMs: 0 },
  };

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
    this.#capacity = (opts.slots ?? 1) + this.#queueSize;
    this.info = {
      id: basename(opts.model).replace(/\.gguf$/i, ""),
      path: resolve(opts.model),
      nCtx: first.nCtx,
      nCtxTrain: model.nCtxTrain,
      nVocab: model.nVocab,
      nEmbd: model.nEmbd,
      ...chatFormat(model),
      drafter: drafter ? resolve(opts.drafter!) : null,
      beamWidth: drafter ? opts.beamWidth : 0,
      beamLength: drafter ? opts.beamLength : 0,
      lookup: params.lookup ?? 0,
      flashAttn: first.flashAttn,
    };
  }

  /** Load the model and drafter (in a worker: reading weights is long native work), then open
   *  one session per slot in its worker. Load failures reject with NativeError (RD_ERR_IO,
   *  RD_ERR_FORMAT, RD_ERR_MISMATCH, ...). */
  static async load(opts: EngineOptions): Promise<Engine> {
    const nSlots = opts.slots ?? 1;
    if (!Number.isInteger(nSlots) || nSlots < 1) throw new EngineError("invalid_request", `slots must be >= 1 (got ${nSlots})`);
    tuneAllocator();
    const loaded = await loadWeights(opts);
    const model = Model.fromPointer(loaded.model as Pointer, opts.model);
    const drafter = loaded.drafter === null ? null : Drafter.fromPointer(loaded.drafter as Pointer, model, opts.drafter!);
    const opened: Slot[] = [];
    try {
      const shape: SessionParams = {
        nCtx: opts.nCtx, beamWidth: opts.beamWidth, beamLength: opts.beamLength,
        flashAttn: opts.flashAttn, kvF32: opts.kvF32, adaptive: opts.adaptive ?? true,
        lazyHead: opts.lazyHead ?? true, lookup: opts.lookup ?? 16,
      };
      // with several slots "auto" only considers counts that fit beside the others: spinning
      // ggml workers must not oversubscribe the cores
      const threads = await sessionThreads({
        setting: opts.threads === 0 ? "auto" : opts.threads, recalibrate: opts.recalibrateThreads ?? false, slots: nSlots,
        model: { ptr: model.ptr, path: opts.model, nVocab: model.nVocab },
        drafter: drafter ? { ptr: drafter.ptr, path: opts.drafter! } : null,
        modelSettings: { nGpuLayers: opts.nGpuLayers, device: opts.device, batchInvariant: opts.batchInvariant ?? true },
        params: shape, speculative: drafter !== null || (shape.lookup ?? 0) > 0,
        log: opts.log ?? ((line) => console.error(`redrafter: ${line}`)),
      });
      const params: SessionParams = { ...shape, nThreads: threads };
      const results = await Promise.allSettled(
        Array.from({ length: nSlots }, () => openSlot(model.ptr, drafter?.ptr ?? null, params)),
      );
      for (const r of results) if (r.status === "fulfilled") opened.push(r.value.slot);
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      const first = (results[0] as PromiseFulfilledResult<{ nCtx: number; flashAttn: boolean }>).value;
      const engine = new Engine(model, drafter, opts, params, first);
      for (const s of opened) engine.#adopt(s);
      return engine;
    } catch (e) {
      const clean = await Promise.all(opened.map(closeSlot));
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
    if (!Number.isInteger(req.maxTokens) || req.maxTokens < 1) {
      job.end(new EngineError("invalid_request", `max tokens must be a positive integer (got ${req.maxTokens})`));
      return job;
    }
    const slot = this.#slots.find((s) => !s.job);
    if (!slot && this.#queue.length >= this.#queueSize) {
      this.#stats.requestsRejected++;
      throw new QueueFullError(this.#queueSize);
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
    const s = this.#stats;
    return {
      ...s,
      time: { ...s.time },
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
        if (s.job) {
          this.#cancel(s.job);
          await Promise.race([new Promise<void>((r) => s.onIdle.push(r)), sleep(CLOSE_TIMEOUT_MS)]);
        }
        return closeSlot(s);
      }),
    );
    this.#slots.length = 0;
    clean.push((await this.#embeddings?.close()) ?? true);
    if (clean.every(Boolean)) {
      this.#drafter?.close();
      this.#model.close();
    }
  }

  #adopt(slot: Slot): void {
    this.#slots.push(slot);
    slot.worker.onmessage = (ev: MessageEvent<FromWorker>) => this.#onMessage(slot, ev.data);
    slot.worker.onerror = (ev: ErrorEvent) => this.#onCrash(slot, ev.message);
  }

  #dispatch(job: Generation, slot: Slot): void {
    slot.job = job;
    job.slot = slot;
    job.queueMs = performance.now() - job.submittedAt;
    const { prompt, maxTokens, sampler, draft } = job.req;
    const msg: ToWorker = { t: "gen", gen: job.gen, prompt, maxTokens, sampler, draft: draft && this.#speculative };
    slot.worker.postMessage(msg);
  }

  #cancel(job: Generation): void {
    if (job.ended) return;
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      this.#endCancelled(job, undefined);
      return;
    }
    const slot = job.slot;
    if (slot && slot.job === job) {
      Atomics.store(slot.cancel, 0, job.gen);
      cancelSession(slot.session);
    }
  }

  #endCancelled(job: Generation, last: StepOutput | undefined): void {
    this.#stats.requestsCancelled++;
    job.push({ tokens: [], logprobs: null, finish: "cancelled", stats: stepStats(last) });
    job.end();
  }

  #onMessage(slot: Slot, m: FromWorker): void {
    if (m.t === "closed") {
      slot.onClosed?.();
      return;
    }
    const job = slot.job;
    if (!job || !("gen" in m) || m.gen !== job.gen) return;
    const st = this.#stats;
    switch (m.t) {
      case "prefilled":
        job.prefillMs = m.ms;
        st.promptTokens += job.req.prompt.length;
        st.time.prefillMs += m.ms;
        return;
      case "step": {
        job.genMs += m.wallMs;
        const ev = this.#event(m.out, m.finish, job.req.sampler.n_probs);
        st.steps++;
        if (m.out.nDrafted > 0) st.speculativeSteps++;
        st.tokensGenerated += ev.tokens.length;
        st.targetCalls += m.out.targetCalls;
        st.drafted += m.out.nDrafted;
        st.accepted += m.out.nAccepted;
        st.copyAccepted += m.out.nCopyAccepted;
        st.treeNodes += m.out.nTree;
        st.time.draftMs += m.out.tDraftMs;
        st.time.verifyMs += m.out.tVerifyMs;
        st.time.otherMs += m.out.tOtherMs;
        job.push(ev);
        return;
      }
      case "end":
        if (m.reason === "cancelled") this.#endCancelled(job, m.last);
        else if (m.reason === "length") {
          st.requestsCompleted++;
          job.push({ tokens: [], logprobs: null, finish: "length", stats: stepStats(m.last) });
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

  /** A step as the gateway sees it: the EOG token that ended generation is not part of it. */
  #event(out: StepOutput, finish: StepEvent["finish"], nProbs: number): StepEvent {
    const tokens = out.tokens;
    let logprobs: TokenLogprob[] | null = null;
    if (out.logprobs && nProbs > 0) {
      const lp = out.logprobs;
      const stride = 1 + 2 * nProbs;
      logprobs = tokens.map((token, i) => {
        const top: TokenLogprob["top"] = [];
        for (let k = 0; k < nProbs; k++) top.push({ token: lp[i * stride + 1 + 2 * k]!, logprob: lp[i * stride + 2 + 2 * k]! });
        return { token, logprob: lp[i * stride]!, top };
      });
    }
    if (finish === "stop" && tokens.length > 0 && this.#model.isEog(tokens[tokens.length - 1]!)) {
      tokens.pop();
      logprobs?.pop();
    }
    return { tokens, logprobs, finish, stats: stepStats(out) };
  }

  #release(slot: Slot): void {
    slot.job = null;
    for (const r of slot.onIdle.splice(0)) r();
    if (this.#closing) return;
    const next = this.#queue.shift();
    if (next) this.#dispatch(next, slot);
    else this.#trimmer.poke();
  }

  /** The worker died outside native code (a JS error): fail its request and replace it. The old
   *  session is left allocated: its worker's state is unknown, so freeing it is not safe. */
  #onCrash(slot: Slot, message: string): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    this.#slots.splice(i, 1);
    slot.worker.terminate();
    const job = slot.job;
    slot.job = null;
    for (const r of slot.onIdle.splice(0)) r();
    if (job) {
      this.#stats.requestsFailed++;
      job.end(new EngineError("internal", `engine worker failed: ${message}`));
    }
    if (this.#closing) return;
    openSlot(this.#model.ptr, this.#drafter?.ptr ?? null, this.#params).then(
      ({ slot: fresh }) => {
        if (this.#closing) return void closeSlot(fresh);
        this.#adopt(fresh);
        const next = this.#queue.shift();
        if (next) this.#dispatch(next, fresh);
      },
      (e) => console.error(`redrafter: could not replace a failed engine worker: ${e instanceof Error ? e.message : e}`),
    );
  }
}

/** Load the model and drafter in a short-lived worker; the pointers come back owned by us. */
function loadWeights(opts: EngineOptions): Promise<{ model: number; drafter: number | null }> {
  const worker = new Worker(WORKER_URL);
  return new Promise<{ model: number; drafter: number | null }>((resolveLoad, reject) => {
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.t === "loaded") resolveLoad(m);
      else if (m.t === "load-failed") reject(nativeError(m.error));
    };
    worker.onerror = (ev: ErrorEvent) => reject(new EngineError("internal", `engine worker failed to start: ${ev.message}`));
    const msg: ToWorker = {
      t: "load", model: opts.model, modelParams: { nGpuLayers: opts.nGpuLayers, device: opts.device, batchInvariant: opts.batchInvariant ?? true }, drafter: opts.drafter,
    };
    worker.postMessage(msg);
  }).finally(() => worker.terminate());
}

/** Spawn a worker and open its session; resolves once the session exists. */
function openSlot(
  model: Pointer,
  drafter: Pointer | null,
  params: SessionParams,
): Promise<{ slot: Slot; nCtx: number; flashAttn: boolean }> {
  const worker = new Worker(WORKER_URL);
  const cancel = new SharedArrayBuffer(4);
  let slot: Slot | null = null;
  return new Promise((resolveOpen, reject) => {
    // replaced by the engine's handler on adoption; until then only a close can follow "ready"
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.t === "ready") {
        slot = { worker, session: m.session as Pointer, cancel: new Int32Array(cancel), job: null, onIdle: [], onClosed: null };
        resolveOpen({ slot, nCtx: m.nCtx, flashAttn: m.flashAttn });
      } else if (m.t === "closed") {
        slot?.onClosed?.();
      } else if (m.t === "open-failed") {
        worker.terminate();
        reject(nativeError(m.error));
      }
    };
    worker.onerror = (ev: ErrorEvent) => {
      worker.terminate();
      reject(new EngineError("internal", `engine worker failed to start: ${ev.message}`));
    };
    const msg: ToWorker = { t: "open", model, drafter, params, cancel };
    worker.postMessage(msg);
  });
}

/** Free the slot's session in its worker and stop the worker; false if it did not answer. */
async function closeSlot(slot: Slot): Promise<boolean> {
  const closed = new Promise<boolean>((r) => (slot.onClosed = () => r(true)));
  slot.worker.postMessage({ t: "close" } satisfies ToWorker);
  const ok = await Promise.race([closed, sleep(CLOSE_TIMEOUT_MS).then(() => false)]);
  slot.worker.terminate();
  return ok;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref?.());
}
