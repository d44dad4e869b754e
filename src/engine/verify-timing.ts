// verify-timing.ts - the time of one target call that verifies n tree nodes, without a drafter:
// a plain step for n = 1, else a chain of n - 1 tokens injected after the root with
// rd_session_step_beams. roofline.ts draws its cost curve c(n) from it, calibrate-worker.ts
// compares thread counts with it, each on a session of its own opened with beam width 1 and a
// beam length of at least maxNodes - 1.
import type { Session } from "../ffi/session.ts";
import { defaultSampler } from "../ffi/sampler.ts";

/** Token k of a fixed sequence spread over the vocabulary (the prompt and the chain). */
const spread = (k: number, nVocab: number) => (k * 7919 + 13) % nVocab;

export class VerifyTimer {
  readonly #chain: number[];

  /** Prefills `s` with a two-token prompt and takes the step that samples its logits (no
   *  decode), so that the next call is the context's first decode. */
  constructor(private readonly s: Session, nVocab: number, maxNodes: number) {
    this.#chain = Array.from({ length: maxNodes - 1 }, (_, k) => spread(100 + k, nVocab));
    s.prefill([spread(1, nVocab), spread(2, nVocab)], { ...defaultSampler, ignore_eos: true });
    s.step(false, 1);
  }

  /** Milliseconds of the target call that verifies n nodes, 1..maxNodes. */
  verifyMs(n: number): number {
    const out = n === 1 ? this.s.step(false, 1) : this.s.stepBeams(this.#chain.slice(0, n - 1), 1, n - 1, 1);
    return out.tVerifyMs;
  }
}
