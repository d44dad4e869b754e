// generation.ts - one request's stream of StepEvents, as Engine.generate() hands it out, and the
// timings the engine learns about it on the way (queue wait, prefill, step time, first token).
import { AsyncQueue } from "./async-queue.ts";
import type { GenerateRequest, StepEvent, TokenLogprob } from "./types.ts";

export class Generation extends AsyncQueue<StepEvent> {
  readonly submittedAt = performance.now();
  queueMs = 0; // waiting for a slot
  prefillMs = 0; // prompt decode in the worker
  genMs = 0; // sum of step times in the worker: the generation phase, prefill excluded
  ttftMs: number | null = null; // submission -> first token delivered
  /** per prompt token after the first, when req.promptLogprobs asked; set before any event */
  promptLogprobs: TokenLogprob[] | null = null;
  /** @internal called once when the stream ends */
  onEnd: (() => void) | null = null;

  constructor(
    readonly gen: number,
    readonly req: GenerateRequest,
    private readonly onCancel: (g: Generation) => void, // the consumer stopped before the end
  ) {
    super();
  }

  /** No more events will be produced. */
  get ended(): boolean {
    return this.closed;
  }

  override push(ev: StepEvent): void {
    if (this.released) return;
    if (this.ttftMs === null && ev.tokens.length > 0) this.ttftMs = performance.now() - this.submittedAt;
    super.push(ev);
  }

  /** End the stream; err (if any) is thrown by next() after the events already pushed. */
  end(err: Error | null = null): void {
    if (this.close(err)) this.onEnd?.();
  }

  protected override onRelease(): void {
    if (!this.ended) this.onCancel(this);
  }
}
