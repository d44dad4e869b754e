// usage.ts - what a response reports about its own cost: OpenAI's `usage` and the `redrafter`
// extension (speculation counters and wall-clock timings, named as in DESIGN.md section 4).
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
  const sum = (f: (s: ChoiceStats) => number) => st.reduce((a, s) => a + f(s), 0);
  const tokens = sum((s) => s.engineTokens);
  const calls = sum((s) => s.targetCalls);
  const draftSteps = sum((s) => s.draftSteps);
  const genMs = sum((s) => s.genMs);
  const firstTokens = st.flatMap((s) => (s.firstTokenAt === null ? [] : [s.firstTokenAt]));
  return {
    tau: calls > 0 ? round(tokens / calls) : 0,
    target_calls: calls,
    drafted_tokens: sum((s) => s.drafted),
    accepted_tokens: sum((s) => s.accepted),
    copy_accepted_tokens: sum((s) => s.copyAccepted),
    tree_nodes: sum((s) => s.treeNodes),
    tree_dedup: draftSteps > 0 ? round(sum((s) => s.dedupSum) / draftSteps) : 0,
    timings: {
      queue_ms: round(st[0]!.queueMs),
      prompt_ms: round(st[0]!.prefillMs),
      generation_ms: round(genMs),
      tokens_per_s: genMs > 0 ? round((tokens * 1000) / genMs, 2) : 0,
      ttft_ms: firstTokens.length ? round(Math.min(...firstTokens) - run.requestStartedAt) : 0,
    },
  };
}
