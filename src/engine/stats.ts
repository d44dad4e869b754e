// stats.ts - what the engine counts: StepTotals sums the per-step counters (StepStats) wherever
// they are summed (the engine since load, one choice of a request, the gateway's dedup gauge,
// one generate/bench run) and holds the derived measures of DESIGN section 4 once; EngineStats
// is the engine's snapshot for /metrics and bench output.
import type { StepStats } from "./types.ts";

/** Sums of StepStats over steps. */
export class StepTotals {
  steps = 0;
  speculativeSteps = 0; // steps that drafted
  tokens = 0; // tokens emitted (as the caller counts them: EOG excluded by the engine)
  targetCalls = 0; // each prefill counts as one, in the first step's count
  drafted = 0;
  accepted = 0;
  copyAccepted = 0; // of accepted: tokens only the context-copy beam proposed
  treeNodes = 0; // all steps (1 per plain step)
  dedupSum = 0; // 1 - n_tree / (n_drafted + 1) summed over speculative steps
  speculativeNodes = 0; // tree nodes of speculative steps
  headNodes = 0; // of those: nodes whose LM head ran
  draftMs = 0;
  verifyMs = 0;
  headMs = 0; // of verifyMs
  otherMs = 0;

  add(s: StepStats, tokens: number): this {
    this.steps++;
    this.tokens += tokens;
    this.targetCalls += s.target_calls;
    this.drafted += s.n_drafted;
    this.accepted += s.n_accepted;
    this.copyAccepted += s.n_copy_accepted;
    this.treeNodes += s.n_tree;
    if (s.n_drafted > 0) {
      this.speculativeSteps++;
      // n_drafted + 1 = B*L + 1: the nodes of a tree without shared prefixes
      this.dedupSum += 1 - s.n_tree / (s.n_drafted + 1);
      this.speculativeNodes += s.n_tree;
      this.headNodes += s.n_head;
    }
    this.draftMs += s.t_draft_ms;
    this.verifyMs += s.t_verify_ms;
    this.headMs += s.t_head_ms;
    this.otherMs += s.t_other_ms;
    return this;
  }

  /** Add another sum (the choices of a request, the prompts of a bench). */
  merge(o: StepTotals): this {
    for (const k of Object.keys(o) as (keyof StepTotals)[]) if (typeof o[k] === "number") (this[k] as number) += o[k] as number;
    return this;
  }

  static sum(all: Iterable<StepTotals>): StepTotals {
    const t = new StepTotals();
    for (const o of all) t.merge(o);
    return t;
  }

  /** Mean accepted length: tokens per target call; null before any call. */
  get tau(): number | null {
    return this.targetCalls > 0 ? this.tokens / this.targetCalls : null;
  }

  /** Tree dedup, 1 - N_verified / (B*L + 1) averaged over speculative steps; null without. */
  get dedup(): number | null {
    return this.speculativeSteps > 0 ? this.dedupSum / this.speculativeSteps : null;
  }

  /** Tree nodes whose LM head ran / tree nodes, speculative steps; null without. */
  get headShare(): number | null {
    return this.speculativeNodes > 0 ? this.headNodes / this.speculativeNodes : null;
  }
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
