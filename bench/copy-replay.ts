// copy-replay.ts - how much of plain greedy decoding a context copy could have proposed, counted
// offline: the target answers each prompt (chat template, greedy, plain decoding), then every
// step of that answer is replayed: copy the K tokens that followed the most recent earlier
// occurrence of the last 4..1 tokens (prompt included), count how many of them the answer
// really continues with, emit those plus one. Verification is free here, so this is an upper
// bound for the copy alone, not a speedup (that is `redrafter bench --no-drafter`).
//
//   bun bench/copy-replay.ts --model M [--prompts FILE.jsonl] [--limit K] [--max-tokens N]
//       [--copy K] [--threads N]
// Prints a JSON summary: replayed tau, proposals, and how many were right in full.
import { parseArgs } from "node:util";
import { Engine } from "../src/engine/engine.ts";
import { defaultSampler } from "../src/engine/types.ts";
import { setNativeLogQuiet } from "../src/ffi/symbols.ts";
import { runOne } from "../src/cli/generate.ts";
import { promptTokens, readPrompts, spread } from "../src/cli/prompts.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    prompts: { type: "string", default: "../shared/data/dev_eval.jsonl" },
    limit: { type: "string", default: "30" },
    "max-tokens": { type: "string", default: "128" },
    copy: { type: "string", default: "8" },
    threads: { type: "string", default: "1" },
  },
});
if (!values.model) throw new Error("--model is required");
const K = Number(values.copy);
const prompts = spread(readPrompts(values.prompts!), Number(values.limit)); // as bench

/** The copy proposal after ctx, as the session makes it (native/src/lookup.cpp). A copy of
 *  rd_lookup_propose() because that lives in the internal native/src/lookup.h, not in the public
 *  header bun:ffi binds: export it there (with its ownership rules) and call it here instead. */
function propose(ctx: number[]): number[] {
  for (let n = Math.min(4, ctx.length - 1); n >= 1; n--) {
    const suffix = ctx.slice(ctx.length - n);
    for (let j = ctx.length - n - 1; j >= 0; j--) {
      if (!suffix.every((t, i) => ctx[j + i] === t)) continue;
      const out: number[] = [];
      for (let i = 0; i < K; i++) out.push(j + n + i < ctx.length ? ctx[j + n + i]! : out[j + n + i - ctx.length]!);
      return out;
    }
  }
  return [];
}

setNativeLogQuiet(true);
const engine = await Engine.load({
  model: values.model, drafter: null, nCtx: 2048, beamWidth: 1, beamLength: 1, nGpuLayers: 0,
  device: null, threads: Number(values.threads), flashAttn: -1, kvF32: false, lookup: 0,
});
let tokens = 0, steps = 0, proposals = 0, full = 0;
try {
  const info = engine.info;
  for (const p of prompts) {
    const prompt = promptTokens(engine, p.prompt, true);
    const { record: r } = await runOne(engine, p, prompt, Number(values["max-tokens"]), { ...defaultSampler }, false, new AbortController().signal, null);
    const answer = r.tokens;
    // answer[t] is the step's root g; the replay emits the copied tokens the answer confirms, plus one
    for (let t = 0; t < answer.length - 1; ) {
      const copy = propose([...prompt, ...answer.slice(0, t + 1)]);
      let a = 0;
      while (a < copy.length && t + 1 + a < answer.length && copy[a] === answer[t + 1 + a]) a++;
      if (copy.length > 0) proposals++;
      if (copy.length > 0 && a === copy.length) full++;
      t += a + 1;
      steps++;
    }
    tokens += answer.length - 1;
    process.stderr.write(".");
  }
} finally {
  await engine.close();
}
process.stderr.write("\n");
console.log(JSON.stringify({ prompts: prompts.length, copy: K, replayed_tau: tokens / steps, steps, proposals, right_in_full: full }));
