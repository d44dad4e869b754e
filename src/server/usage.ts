// usage.ts - what a response reports about its own cost: OpenAI's `usage` and the `redrafter`
// extension (speculation counters and wall-clock timings, named as in DESIGN.md section 4).
import { StepTotals } from "../engine/stats.ts";
import type { ChoiceStats, Run } from "./run.ts";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface RedrafterStats {
  tau: number; // tokens generated per target call (1 = no speculation gain)
  target_calls: number;
  drafted_tokens: number;
  accepted_tokens: number;
  copy_accepted_tokens: number; // of accepted_tokens: proposed only by the context copy (--lookup)
  tree_nodes: number;
  tree_dedup: number; // 1 - verified nodes / (B*L + 1), mean over drafting steps
  timings: {
    queue_ms: number; // waiting for a free slot
    prompt_ms: number; // prefill
    generation_ms: number; // decoding steps, prefill excluded (summed over choices)
    tokens_per_s: number; // generated tokens / generation_ms
    ttft_ms: number; // request received to first token
  };
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

export function usageOf(promptTokens: number, stats: readonly ChoiceStats[]): Usage {
  const completion = stats.reduce((a, s) => a + s.completionTokens, 0);
  return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
}

export function redrafterStats(run: Run): RedrafterStats {
  const st = run.stats;
  const t = StepTotals.sum(st.map((s) => s.steps));
  const genMs = st.reduce((a, s) => a + s.genMs, 0);
  const firstTokens = st.flatMap((s) => (s.firstTokenAt === null ? [] : [s.firstTokenAt]));
  return {
    tau: round(t.tau ?? 0),
    target_calls: t.targetCalls,
    drafted_tokens: t.drafted,
    accepted_tokens: t.accepted,
    copy_accepted_tokens: t.copyAccepted,
    tree_nodes: t.treeNodes,
    tree_dedup: round(t.dedup ?? 0),
    timings: {
      queue_ms: round(st[0]!.queueMs),
      prompt_ms: round(st[0]!.prefillMs),
      generation_ms: round(genMs),
      tokens_per_s: genMs > 0 ? round((t.tokens * 1000) / genMs, 2) : 0,
      ttft_ms: firstTokens.length ? round(Math.min(...firstTokens) - run.requestStartedAt) : 0,
    },
  };
}
