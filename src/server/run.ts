// run.ts - one request's generations: its choices (n per prompt) run on the engine side by
// side, and their engine steps become client-visible deltas (text with stop strings cut,
// released log-probs, finish reasons) plus per-choice counters. Both endpoints and both
// response modes (stream / whole) go through this one piece.
import { AsyncQueue } from "../engine/async-queue.ts";
import type { Engine } from "../engine/engine.ts";
import { StepTotals } from "../engine/stats.ts";
import type { GenerateRequest, SamplerParams, StepEvent, StepStats, TokenLogprob } from "../engine/types.ts";
import { ChoiceText, type ReleasedToken } from "./choice-text.ts";
import { ApiError } from "./errors.ts";
import { choiceSeed } from "./sampling.ts";

export type FinishReason = "stop" | "length";

export interface ChoiceSpec {
  index: number; // choice index in the response
  prompt: number[];
  maxTokens: number;
  sampler: SamplerParams;
  draft: boolean;
  stops: string[];
  promptLogprobs?: number; // score the prompt (echo with logprobs): alternatives per token
}

export interface ChoiceDelta {
  index: number;
  text: string;
  tokens: ReleasedToken[];
  finish: FinishReason | null; // set on the choice's last delta
}

/** n choices per prompt, indexed prompt-major; choice i of each prompt samples with seed + i. */
export function choiceSpecs(
  prompts: number[][],
  n: number,
  sampler: SamplerParams,
  seed: number | null | undefined,
  opts: { maxTokens: number[]; draft: boolean; stops: string[]; promptLogprobs?: number },
): ChoiceSpec[] {
  return prompts.flatMap((prompt, p) =>
    Array.from({ length: n }, (_, i) => ({
      index: p * n + i,
      prompt,
      maxTokens: opts.maxTokens[p]!,
      sampler: { ...sampler, seed: choiceSeed(seed, i) },
      draft: opts.draft,
      stops: opts.stops,
      ...(opts.promptLogprobs !== undefined ? { promptLogprobs: opts.promptLogprobs } : {}),
    })),
  );
}

/** Counters of one choice. */
export interface ChoiceStats {
  completionTokens: number; // tokens up to the end of the visible text (usage)
  steps: StepTotals; // its engine steps up to its finish; tokens: those the engine emitted (tau)
  queueMs: number; // waiting for a slot
  prefillMs: number;
  genMs: number; // the engine's step time, prefill excluded
  firstTokenAt: number | null; // performance.now()
}

/** What a run reports as it goes (metrics). */
export interface RunObserver {
  /** gapMs: since the previous tokens; null for the step that brought the first token */
  step(stats: StepStats, tokens: number, gapMs: number | null): void;
  firstToken(ttftMs: number): void;
}

export class Run {
  readonly stats: ChoiceStats[];
  /** per choice, when its spec asked: the prompt's log-probs, set before its first delta */
  readonly promptLogprobs: (TokenLogprob[] | null)[];
  /** Settles once the first choice has produced its first step, or the run failed before. */
  readonly ready: Promise<void>;
  /** Resolves once every choice has ended and its slot is free, however the run ended. */
  readonly done: Promise<void>;
  readonly #channel = new AsyncQueue<ChoiceDelta>();
  readonly #aborts: AbortController[];
  #failure: unknown = null;

  /**
   * Starts every choice now. Throws synchronously a 400 when the request needs more generations
   * than the engine can ever hold, or QueueFullError when the engine refuses one now (the
   * choices already started are cancelled); later failures surface from ready/deltas().
   */
  constructor(
    engine: Engine,
    specs: ChoiceSpec[],
    signal: AbortSignal,
    readonly requestStartedAt: number,
    observer: RunObserver,
  ) {
    this.#aborts = specs.map(() => new AbortController());
    this.promptLogprobs = specs.map(() => null);
    this.stats = specs.map(() => ({ completionTokens: 0, steps: new StepTotals(), queueMs: 0, prefillMs: 0, genMs: 0, firstTokenAt: null }));
    if (specs.length > engine.capacity) {
      throw ApiError.invalid(
        `Invalid 'n': this request needs ${specs.length} generations at once, more than this server can ever hold ` +
          "(--slots plus --queue-size); ask for fewer choices",
        "n",
      );
    }
    const jobs = [];
    try {
      for (const [i, spec] of specs.entries()) {
        const req: GenerateRequest = {
          prompt: spec.prompt, maxTokens: spec.maxTokens, sampler: spec.sampler, draft: spec.draft,
          ...(spec.promptLogprobs !== undefined ? { promptLogprobs: spec.promptLogprobs } : {}),
          signal: AbortSignal.any([signal, this.#aborts[i]!.signal]),
        };
        jobs.push(engine.generate(req));
      }
    } catch (e) {
      this.cancel();
      throw e;
    }
    let markReady!: () => void;
    const firstStep = new Promise<void>((r) => (markReady = r));
    const done = Promise.all(
      jobs.map((job, i) => this.#consume(engine, job, specs[i]!, i, observer, i === 0 ? markReady : null)),
    ).then(
      () => void this.#channel.close(this.#failure),
      (err) => {
        this.#failure ??= err;
        this.cancel();
        this.#channel.close(this.#failure);
        throw err;
      },
    );
    this.ready = Promise.race([firstStep, done]);
    this.done = done.catch(() => {}); // the error itself is reported through ready and deltas()
  }

  /** Stop every choice (the client went away). */
  cancel(): void {
    for (const a of this.#aborts) a.abort();
  }

  /** End the run with an error (a timeout, the shutdown): every choice stops, and deltas() throws
   *  `err` once the choices have ended. The first failure wins; a no-op once the run is over. */
  fail(err: unknown): void {
    this.#failure ??= err;
    this.cancel();
  }

  /** Why the run failed, if it did. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Deltas of all choices, interleaved as they come; throws the first engine failure. */
  deltas(): AsyncIterableIterator<ChoiceDelta> {
    return this.#channel;
  }

  async #consume(
    engine: Engine,
    job: ReturnType<Engine["generate"]>,
    spec: ChoiceSpec,
    pos: number,
    observer: RunObserver,
    onFirstStep: (() => void) | null,
  ): Promise<void> {
    const st = this.stats[pos]!;
    const text = new ChoiceText((t) => engine.tokenBytes(t), spec.stops);
    const emit = (t: string, tokens: ReleasedToken[], finish: FinishReason | null) =>
      this.#channel.push({ index: spec.index, text: t, tokens, finish });
    let last = performance.now();
    let finish: FinishReason | null = null;
    try {
      for await (const ev of job) {
        this.promptLogprobs[pos] ??= job.promptLogprobs; // the worker sends it before any step
        if (finish !== null) continue; // after the finish only the engine's end (or cancel) follows
        onFirstStep?.();
        const now = performance.now();
        st.steps.add(ev.stats, ev.tokens.length);
        let gap: number | null = now - last;
        if (ev.tokens.length > 0 && st.firstTokenAt === null) {
          st.firstTokenAt = now;
          observer.firstToken(now - this.requestStartedAt);
          gap = null; // the wait for the first token is TTFT, not an inter-token latency
        }
        observer.step(ev.stats, ev.tokens.length, gap);
        if (ev.tokens.length > 0) last = now;
        const d = text.push(ev.tokens, ev.logprobs);
        if (d.stopped) {
          // a stop string ends this choice only: cancel it, then read on to the engine's end so
          // that its slot is free before the answer completes
          finish = "stop";
          emit(d.text, d.tokens, finish);
          this.#aborts[pos]!.abort();
          continue;
        }
        if (ev.finish === null) {
          if (d.text || d.tokens.length) emit(d.text, d.tokens, null);
          continue;
        }
        // the engine is done (EOS, length, cancelled): release what was held back. The loop
        // runs on to the iterator's end, which comes once the slot is free again, so the client
        // that reads this answer and sends the next request finds the slot released.
        const tail = text.finish();
        finish = ev.finish === "length" && !tail.stopped ? "length" : "stop";
        emit(d.text + tail.text, [...d.tokens, ...tail.tokens], this.#endOf(ev.finish, finish));
      }
    } finally {
      st.queueMs = job.queueMs;
      st.prefillMs = job.prefillMs;
      st.genMs = job.genMs;
      st.completionTokens = text.completionTokens;
    }
    if (finish === null) {
      // ended without a finishing event (only when cancelled): close the choice all the same
      const tail = text.finish();
      emit(tail.text, tail.tokens, this.#endOf("cancelled", "stop"));
    }
  }

  /** The finish reason a choice reports: none when fail() cut it, since its end is the error. */
  #endOf(engineFinish: StepEvent["finish"], finish: FinishReason): FinishReason | null {
    return engineFinish === "cancelled" && this.#failure !== null ? null : finish;
  }
}
